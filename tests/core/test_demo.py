"""The README's first command: the demo runs end to end and beats the rate-limit baseline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--out", str(out), "--seed", "3"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "demo.json").read_text())
    assert set(summary["providers"]) == {"alpha", "beta"}
    for provider, runs in summary["providers"].items():
        assert (Path(runs["distillguard"]["findings"]) / "report.html").stat().st_size > 100_000
        ours = json.loads(Path(runs["distillguard"]["evaluation"]).read_text())
        base = json.loads(Path(runs["rate_limit"]["evaluation"]).read_text())
        assert ours["roc_auc"] > base["roc_auc"], provider
        assert ours["at_flag"]["benign_fpr"] <= 0.02, provider
    # the demo ends with the console command that opens its cases; that command's findings import
    lines = [ln.strip() for ln in r.output.splitlines() if ln.strip()]
    cmd = lines[-1].split("#")[0].split()
    assert cmd[:2] == ["distillguard", "console"] and "--db" in cmd, lines[-3:]
    assert "pip install -e '.[console]'" in r.output  # the install hint survives Rich markup
    folders = cmd[2:cmd.index("--db")]
    assert sorted(Path(f).parent.name for f in folders) == ["alpha", "beta"]
    r2 = CliRunner().invoke(app, ["console", "import", *folders, "--db", str(tmp_path / "cases.sqlite")])
    assert r2.exit_code == 0 and "new case(s)" in r2.output, r2.output
