"""`distillguard report`: render a findings folder as one self-contained HTML page."""

from __future__ import annotations

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
from distillguard.ingest import ingest, resolve_inputs


def _view(con: duckdb.DuckDBPyConnection, name: str, spec: str, kind: str, work: Path) -> None:
    """Create view ``name`` over spec: Parquet is read in place, other formats are ingested first."""
    files = resolve_inputs(spec, stem=kind)
    if not files:
        raise InputError(f"no {kind} files found", source=spec)
    if not all(p.suffix == ".parquet" for p in files):
        report = ingest(spec, kind, work)
        files = sorted(Path(report.output).glob("part-*.parquet"))
    paths = [str(p) for p in files]
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({paths!r}, union_by_name=true)")


def _spec(v: Any) -> str | None:
    """A meta entry that names input files (a scan may store counts under the same key)."""
    return v if isinstance(v, str) and v else None


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
    ) -> None:
        """Write report.html: summary, score distribution, ranked campaigns with account graph and
        timeline, per-account evidence with example prompts, and the MITRE ATLAS mapping."""
        from distillguard.report import write_report

        f = read_findings(findings)
        dest = out or findings / "report.html"
        ev_spec = events or _spec(f.meta.get("events"))
        acc_spec = accounts or _spec(f.meta.get("accounts"))
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
                        _view(con, "events", str(ev_spec), "events", Path(tmp) / "events")
                    if acc_spec:
                        _view(con, "accounts", str(acc_spec), "accounts", Path(tmp) / "accounts")
                    path = write_report(f, con if ev_spec or acc_spec else None, dest, lab, signals=signals)
                    bar.update(task, completed=1, total=1)
            finally:
                con.close()
        if not ev_spec:
            console.print("[yellow]no events given: example prompts and timelines left out (use --events)[/]")
        console.print(f"[green]wrote[/] {path} ({path.stat().st_size / 1e6:.1f} MB)")
