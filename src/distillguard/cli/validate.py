"""`distillguard validate`: check files against the traffic contract before a scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from distillguard.cli._common import (ConfigOpt, EncodingOpt, MapOpt, SetOpt, console, friendly_errors, one_or_many,
                                      print_ingest_report, print_mapping, progress, settings_from)
from distillguard.errors import InputError
from distillguard.ingest import ingest, load_mapping


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def validate(
        inputs: list[str] = typer.Argument(..., help="Files, folders or globs of events (or accounts with --kind "
                                           "accounts); several are read as one dataset (logs/*.jsonl works unquoted)."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for canonical Parquet and the quarantine file."),
        kind: str = typer.Option("events", help="events or accounts."),
        map_: Optional[str] = MapOpt,
        encoding: Optional[str] = EncodingOpt,
        config: Optional[Path] = ConfigOpt,
        set_: Optional[list[str]] = SetOpt,
    ) -> None:
        """Check a provider's logs against the contract (docs/schema.md) and normalise them.

        Every row ends up either in OUT/<kind>/ (canonical Parquet) or in
        OUT/<kind>.quarantine.jsonl with its file, row number and reason; the counts add up.

        With --map, a provider's own format (e.g. --map openai) is translated first and
        the table shows what each contract column was filled from, and how often.
        """
        if kind not in ("events", "accounts"):
            raise typer.BadParameter("kind must be events or accounts")
        settings = settings_from(config, set_, encoding)
        mapping = load_mapping(map_) if map_ else None
        with progress() as bar:
            task = bar.add_task(f"reading {kind}", total=None)
            report = ingest(one_or_many(inputs), kind, out, settings.ingest, on_rows=lambda n: bar.advance(task, n),
                            mapping=mapping)
        print_ingest_report(report)
        if mapping is not None:
            print_mapping(mapping, filled_counts(Path(report.output)), report.used)
        (out / f"{kind}.ingest.json").write_text(json.dumps(report.to_dict(), indent=2))
        console.print(f"[green]canonical {kind}:[/] {report.output}")
        if report.read and not report.used:
            raise InputError(f"none of the {report.read:,} {kind} rows is usable; reasons are in {report.quarantine_file}")


def filled_counts(parts: Path) -> dict[str, int]:
    """Non-null values per column of the canonical parts."""
    import duckdb

    con = duckdb.connect()
    try:
        rel = con.sql(f"SELECT * FROM read_parquet('{parts}/*.parquet', union_by_name=true)")
        cols = rel.columns
        rows = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in cols)
                           + f" FROM read_parquet('{parts}/*.parquet', union_by_name=true)").fetchall()
        row = rows[0] if rows else []
        return dict(zip(cols, (int(x) for x in row)))
    finally:
        con.close()
