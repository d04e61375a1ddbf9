"""`distillguard report`: render a findings folder as one self-contained HTML page."""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path
from typing import Any, Optional

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer

from distillguard.cli._common import console, friendly_errors, progress
from distillguard.errors import InputError
from distillguard.findings import read_findings
from distillguard.config import IngestConfig
from distillguard.ingest import ingest, resolve_many


def _view(con: duckdb.DuckDBPyConnection, name: str, spec: str | list[str], kind: str, work: Path,
          mapping: str | None = None, cfg: IngestConfig | None = None) -> None:
    """Create view ``name`` over spec: canonical Parquet is read in place, anything else is ingested first."""
    files = resolve_many(spec, stem=kind, any_name=mapping is not None)
    if not files:
        raise InputError(f"no {kind} files found", source=str(spec))
    if mapping is not None or not all(p.suffix == ".parquet" for p in files):
        report = ingest(spec, kind, work, cfg, mapping=mapping)
        files = sorted(Path(report.output).glob("part-*.parquet"))
    paths = [str(p) for p in files]
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({paths!r}, union_by_name=true)")


def _spec(v: Any) -> str | None:
    """A meta entry that names input files (a scan may store counts under the same key)."""
    return v if isinstance(v, str) and v else None


def _present(p: str) -> bool:
    return Path(p).exists() or bool(glob.glob(p, recursive=True))


def recorded_inputs(meta: dict[str, Any], kind: str) -> tuple[str | list[str] | None, str | None, IngestConfig | None]:
    """What the scan read for ``kind``: the kept canonical parts if they still exist, else the
    original inputs with their mapping and encoding (None when the findings record neither)."""
    if kind == "events":
        kept = _spec(meta.get("events_path"))
        if kept and Path(kept).is_dir():
            return kept, None, None
    inputs = meta.get("inputs") if isinstance(meta.get("inputs"), dict) else {}
    spec = inputs.get(kind)
    if isinstance(spec, list):
        spec = [p for p in spec if isinstance(p, str)]
        if not spec or not all(_present(p) for p in spec):
            return None, None, None
        one: str | list[str] = spec[0] if len(spec) == 1 else spec
    elif _spec(spec) and _present(spec):
        one = spec
    else:
        return None, None, None
    cfg = IngestConfig(encoding=inputs.get("encoding") or "utf-8", naive_timezone=inputs.get("naive_timezone"))
    return one, inputs.get("mapping" if kind == "events" else "accounts_mapping"), cfg


def _labels(path: Path, findings_has_provider: bool, provider: Optional[str], meta: dict[str, Any]) -> pa.Table:
    if not path.exists():
        raise InputError("labels file not found", source=str(path))
    lab = pq.read_table(path)
    prov = provider or meta.get("provider")
    if not findings_has_provider and prov and "provider" in lab.column_names:
        lab = lab.filter(pc.equal(lab.column("provider"), prov))
    return lab


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def report(
        findings: Path = typer.Argument(..., help="Findings folder (accounts.parquet, campaigns.json)."),
        events: Optional[str] = typer.Option(None, help="Events (file, folder or glob, any contract format) for "
                                             "example prompts and timelines; default: the scan's own, from meta."),
        accounts: Optional[str] = typer.Option(None, help="Accounts table for shared cards/emails in campaign graphs."),
        labels: Optional[Path] = typer.Option(None, help="Ground-truth labels (labels.parquet of a simulated world)."),
        provider: Optional[str] = typer.Option(None, help="Provider whose labels apply (default: from findings meta)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file (default FINDINGS/report.html)."),
        map_: Optional[str] = typer.Option(None, "--map", "-m", help="Mapping for --events in a provider's own "
                                           "format (profile name or TOML file; see docs/mappings.md)."),
        encoding: Optional[str] = typer.Option(None, "--encoding", help="Text encoding of --events / --accounts."),
        console_url: Optional[str] = typer.Option(None, "--console-url", help="The analyst console's address "
                                                  "(e.g. http://127.0.0.1:8708): each campaign and account links to "
                                                  "its case there (setting console.url for scan)."),
    ) -> None:
        """Write report.html: summary, score distribution, ranked campaigns with account graph and
        timeline, per-account evidence with example prompts, and the MITRE ATLAS mapping."""
        from distillguard.report import write_report

        f = read_findings(findings)
        dest = out or findings / "report.html"
        ev_map: str | None = None
        acc_map: str | None = None
        ev_cfg = acc_cfg = None
        ev_spec: str | list[str] | None = events
        acc_spec: str | list[str] | None = accounts
        if map_ and events is None:
            raise typer.BadParameter("--map reads --events; without --events the scan's own inputs and mapping are used")
        given = IngestConfig(encoding=encoding) if encoding else None
        if events is not None:
            ev_map, ev_cfg = map_, given
        if accounts is not None:
            acc_cfg = given
        if ev_spec is None:
            ev_spec, ev_map, ev_cfg = recorded_inputs(f.meta, "events")
        if acc_spec is None:
            acc_spec, acc_map, acc_cfg = recorded_inputs(f.meta, "accounts")
        sig_file = findings / "signals.parquet"
        signals = pq.read_table(sig_file) if sig_file.exists() else None
        lab = _labels(labels, "provider" in f.accounts.column_names, provider, f.meta) if labels else None
        with tempfile.TemporaryDirectory(prefix="dg-report-") as tmp:
            con = duckdb.connect()
            con.execute("SET TimeZone='UTC'")
            try:
                with progress() as bar:
                    task = bar.add_task("rendering report", total=None)
                    if ev_spec:
                        _view(con, "events", ev_spec, "events", Path(tmp) / "events", ev_map, ev_cfg)
                    if acc_spec:
                        _view(con, "accounts", acc_spec, "accounts", Path(tmp) / "accounts", acc_map, acc_cfg)
                    path = write_report(f, con if ev_spec or acc_spec else None, dest, lab, signals=signals,
                                        console_url=console_url)
                    bar.update(task, completed=1, total=1)
            finally:
                con.close()
        if not ev_spec:
            console.print("[yellow]the scan's events are no longer where the findings say and none were given: "
                          "example prompts and timelines left out (use --events)[/]")
        console.print(f"[green]wrote[/] {path} ({path.stat().st_size / 1e6:.1f} MB)")
