"""`distillguard scan`: find distillation accounts and campaigns in API logs, with evidence."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from distillguard.cli._common import (ConfigOpt, EncodingOpt, MapOpt, SetOpt, console, friendly_errors, one_or_many,
                                      print_ingest_report, progress, settings_from)
from distillguard.errors import InputError


def parse_time(text: str | None, flag: str) -> datetime | None:
    """RFC 3339 / ISO 8601 time (a bare date means midnight UTC; no zone means UTC)."""
    if text is None:
        return None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a time like 2026-03-01T12:00:00Z") from None
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d.astimezone(timezone.utc)


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def scan(
        events: list[str] = typer.Argument(..., help="Events: files, folders (a simulated provider folder works as is) "
                                           "or globs; several are one dataset, so an unquoted logs/*.jsonl works."),
        out: Path = typer.Option(..., "--out", "-o", help="Findings folder to write."),
        accounts: Optional[str] = typer.Option(None, "--accounts", help="Account metadata (file, folder or glob). "
                                               "Default: accounts* files in the EVENTS folder, if any."),
        since: Optional[str] = typer.Option(None, "--since", help="Only events at or after this time (RFC 3339)."),
        until: Optional[str] = typer.Option(None, "--until", help="Only events at or before this time: replay history."),
        detector: Optional[str] = typer.Option(None, "--detector", help="Run only this detector or baseline; "
                                               "its score becomes the account score."),
        model: Optional[Path] = typer.Option(None, "--model", help="Supervised model from `distillguard train`."),
        no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
        map_: Optional[str] = MapOpt,
        accounts_map: Optional[str] = typer.Option(None, "--accounts-map", help="Mapping TOML (kind = \"accounts\") "
                                                   "for an accounts table in your own format (docs/mappings.md)."),
        encoding: Optional[str] = EncodingOpt,
        keep_work: bool = typer.Option(False, "--keep-work", help="Keep the canonical working copy of the logs "
                                       "(in the cache folder, engine.work_dir) instead of removing it after the scan."),
        engine: str = typer.Option("duckdb", "--engine", help="duckdb (default: in process, one machine) or spark "
                                   "(per-event work on Apache Spark; needs `pip install 'distillguard\\[spark]'` and "
                                   "Java 17+; docs/scale-out.md). Same findings either way."),
        master: Optional[str] = typer.Option(None, "--master", help="With --engine spark: the Spark master, e.g. "
                                             "local[4] (this machine, 4 cores), spark://host:7077, yarn "
                                             "(sets spark.master; default local[2])."),
        remote: Optional[str] = typer.Option(None, "--remote", help="With --engine spark: a Spark Connect server, "
                                             "e.g. sc://host:15002 (Databricks, a shared cluster); overrides --master."),
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Scan API logs and write findings (accounts.parquet, campaigns.json, signals.parquet, report.html).

        Every account gets a calibrated score, a verdict (clear/watch/flag), the reasons
        behind it with example request ids, its campaign, and for flagged accounts the
        exact event at which its evidence first crossed the flag threshold (first_flag_ts, from
        streaming its events through the live engine; --until shows what was known at a time).

        Logs in a provider's own format are read with --map (e.g. --map openai). The scan
        says which signals ran blind or weakened because a column or the accounts table
        is missing. It exits non-zero when no event is usable.
        """
        from distillguard.scan.run import scan as run_scan

        settings = settings_from(config, set_, encoding)
        if engine not in ("duckdb", "spark"):
            raise InputError(f"--engine {engine!r}: choose duckdb or spark")
        if (master or remote) and engine != "spark":
            raise InputError("--master/--remote need --engine spark")
        if master or remote:
            settings = settings.model_copy(update={"spark": settings.spark.model_copy(
                update={k: v for k, v in (("master", master), ("remote", remote)) if v})})
        t_since, t_until = parse_time(since, "--since"), parse_time(until, "--until")
        if model is not None and not model.exists():
            raise InputError("model file not found", source=str(model))
        with progress() as bar:
            task = bar.add_task("scan", total=None)
            res = run_scan(one_or_many(events), out, accounts=accounts, since=t_since, until=t_until,
                           settings=settings, detector=detector, model_path=model, report=not no_report,
                           step=lambda s: bar.update(task, description=s), mapping=map_, keep_work=keep_work,
                           accounts_mapping=accounts_map, engine_name=engine)
        for rep in res.ingest_reports:
            print_ingest_report(rep)
        verdicts = res.findings.accounts.column("verdict").to_pylist()
        console.print(f"[bold]{res.events:,}[/] events, {len(verdicts):,} accounts: "
                      f"[red]{verdicts.count('flag'):,} flagged[/], [yellow]{verdicts.count('watch'):,} watched[/], "
                      f"{len(res.findings.campaigns):,} campaigns")
        total = sum(res.timings.values())
        console.print("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
                      + f" — {res.events / max(total, 1e-9):,.0f} events/s")
        for name, err in res.errors.items():
            console.print(f"[yellow]warning:[/] {name} skipped: {err}")
        for notice in res.blind_spots.get("notices", []):
            console.print(f"[yellow]blind spot:[/] {notice}")
        if res.work is not None:
            console.print(f"working copy kept: {res.work}")
        console.print(f"[green]findings:[/] {out}")
