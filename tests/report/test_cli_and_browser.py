"""`distillguard report` end to end, and a real browser drawing the page without errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.findings import Findings, write_findings
from distillguard.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture()
def world(tmp_path: Path, findings: Findings, con: duckdb.DuckDBPyConnection, labels: pa.Table) -> Path:
    """A findings folder plus events (JSONL, to exercise ingest), accounts and labels files."""
    write_findings(findings, tmp_path / "findings")
    ev = con.sql("SELECT * FROM events").to_arrow_table()
    with open(tmp_path / "events.jsonl", "w") as f:
        for r in ev.to_pylist():
            f.write(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}) + "\n")
    pq.write_table(con.sql("SELECT * FROM accounts").to_arrow_table(), tmp_path / "accounts.parquet")
    pq.write_table(labels, tmp_path / "labels.parquet")
    return tmp_path


def test_cli_report(world: Path) -> None:
    out = world / "r" / "report.html"
    res = CliRunner().invoke(app, ["report", str(world / "findings"), "--events", str(world / "events.jsonl"),
                                   "--accounts", str(world / "accounts.parquet"),
                                   "--labels", str(world / "labels.parquet"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    raw = out.read_text()
    assert 'id="fig-t1"' in raw and "reasoning_harvest" in raw and "fp-SHARED" in raw
    assert "<script>alert" not in raw


def test_cli_default_out_and_bad_input(world: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(world / "findings")])
    assert res.exit_code == 0, res.output
    assert (world / "findings" / "report.html").exists()
    res = CliRunner().invoke(app, ["report", str(world / "nowhere")])
    assert res.exit_code == 2 and "findings folder" in res.output
    res = CliRunner().invoke(app, ["report", str(world / "findings"), "--labels", str(world / "missing.parquet")])
    assert res.exit_code == 2 and "labels file not found" in res.output


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_renders_in_headless_chromium(tmp_path: Path, findings: Findings, con: duckdb.DuckDBPyConnection,
                                      labels: pa.Table) -> None:
    """The page loads offline, plotly draws every figure (an .svg-container each), no alert fires."""
    page = write_report(findings, con, tmp_path / "report.html", labels)
    dom = subprocess.run(
        [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Refused to" in ln or "Uncaught" in ln]
    assert not console, console[:5]                                 # no JS error, no CSP violation
    assert dom.stdout.count('class="user-select-none svg-container"') == 3          # histogram, graph, timeline
    assert "<script>alert" not in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,2400", "--virtual-time-budget=8000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000
