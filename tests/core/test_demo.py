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
