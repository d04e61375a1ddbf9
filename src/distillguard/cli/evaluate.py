"""`distillguard evaluate`: score a findings folder against ground-truth labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import duckdb
import pyarrow.parquet as pq
import typer
from rich.table import Table

from distillguard.cli._common import console, friendly_errors, out
from distillguard.errors import InputError
from distillguard.evaluate import evaluate as run_evaluate
from distillguard.findings import read_findings
from distillguard.ingest import resolve_many


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.2%}" if pct else f"{v:.4f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _events_con(events: Optional[str], meta: dict[str, Any],
                mapping: Optional[str] = None) -> duckdb.DuckDBPyConnection | None:
    """Account ids and times of the scanned events: --events, else what the findings recorded
    (the kept canonical parts, or the original inputs read again with their mapping)."""
    import shutil
    import tempfile

    from distillguard.cli.report import recorded_inputs
    from distillguard.ingest import ingest

    cfg = None
    spec: str | list[str] | None = events
    if spec is None:
        spec, mapping, cfg = recorded_inputs(meta, "events")
    if not spec:
        return None
    files = [str(p) for p in resolve_many(spec, stem="events", any_name=mapping is not None)]
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    if mapping is None and all(f.endswith(".parquet") for f in files):
        con.execute(f"CREATE VIEW events AS SELECT account_id, ts FROM read_parquet({files!r}, union_by_name=true)")
        return con
    tmp = tempfile.mkdtemp(prefix="dg-evaluate-")
    try:
        rep = ingest(spec, "events", tmp, cfg, mapping=mapping)
        con.execute(f"CREATE TABLE events AS SELECT account_id, ts FROM read_parquet('{rep.output}/*.parquet')")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return con


def print_evaluation(r: dict[str, Any]) -> None:
    t = Table(title=f"detector: {r.get('detector') or '?'} — providers {', '.join(r['providers'])}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    f = r["at_flag"]
    rows = [
        ("accounts (distillation / benign)", f"{r['distillation_accounts']:,} / {r['benign_accounts']:,}"),
        ("ROC-AUC", _fmt(r["roc_auc"])), ("PR-AUC", _fmt(r["pr_auc"])),
        ("precision @flag", _fmt(f["precision"])), ("recall @flag", _fmt(f["recall"])),
        ("F1 @flag", _fmt(f["f1"])), ("benign FPR @flag", _fmt(f["benign_fpr"], pct=True)),
        ("worst benign persona FPR", _fmt(r["worst_persona_fpr"], pct=True)),
        ("campaign recall (any member flagged)", _fmt(r["campaign_recall"], pct=True)),
        ("exchanges harvested before flag", _fmt(r["harvested_before_flag"])),
        ("… as share of campaign requests", _fmt(r["harvested_share_overall"], pct=True)),
        ("… worst campaign", _fmt(r["harvested_share_worst_campaign"], pct=True)),
    ]
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)
    c = Table(title="campaigns")
    for col in ("campaign", "type", "accounts", "flagged", "requests", "harvested before flag"):
        c.add_column(col, justify="right" if col not in ("campaign", "type") else "left")
    for cid, v in sorted(r["campaigns"].items()):
        c.add_row(cid, str(v.get("type")), _fmt(v["accounts"]), _fmt(v["flagged"]), _fmt(v.get("requests")),
                  f"{_fmt(v.get('harvested_before_flag'))} ({_fmt(v.get('harvested_share'), pct=True)})")
    out.print(c)
    p = Table(title="benign personas")
    for col in ("persona", "accounts", "flagged", "watched", "FPR"):
        p.add_column(col, justify="right" if col != "persona" else "left")
    for name, v in sorted(r["fpr_per_benign_persona"].items()):
        p.add_row(name, _fmt(v["accounts"]), _fmt(v["flagged"]), _fmt(v["watched"]), _fmt(v["fpr"], pct=True))
    out.print(p)


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def evaluate(
        findings: Path = typer.Option(..., "--findings", "-f", help="Findings folder (accounts.parquet, campaigns.json)."),
        labels: Path = typer.Option(..., "--labels", "-l", help="Labels Parquet (a simulated world's labels.parquet)."),
        events: Optional[str] = typer.Option(None, help="Events for exchanges-before-detection (any contract format, "
                                             "or a provider format with --map); default: what the scan read."),
        map_: Optional[str] = typer.Option(None, "--map", "-m", help="Mapping for --events in a provider's own format."),
        provider: Optional[str] = typer.Option(None, help="Provider the findings are about (default: inferred)."),
        out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="JSON output (default FINDINGS/evaluation.json)."),
    ) -> None:
        """ROC-AUC, PR-AUC, precision/recall/F1/FPR at the verdict, per campaign type and benign
        persona, campaign recall, and exchanges harvested before detection."""
        f = read_findings(findings)
        if not labels.exists():
            raise InputError("labels file not found", source=str(labels))
        lab = pq.read_table(labels)
        if map_ and events is None:
            raise typer.BadParameter("--map reads --events; without --events the scan's own inputs and mapping are used")
        con = _events_con(events, f.meta, map_)
        if con is None:
            console.print("[yellow]no events given: exchanges-before-detection not computed (use --events)[/]")
        result = run_evaluate(f, lab, con, provider)
        print_evaluation(result)
        dest = out_file or findings / "evaluation.json"
        dest.write_text(json.dumps(result, indent=2, default=str))
        console.print(f"[green]wrote[/] {dest}")
