"""Every registered detector, signal or baseline, passes the conformance suite."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from distillguard.detectors import registry
from distillguard.errors import ConfigError
from distillguard.testing.checks import check_detector


@pytest.mark.parametrize("name", sorted(registry.available()))
def test_builtin_detector_conforms(name: str) -> None:
    check_detector(registry.create(name))


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ep_name: str) -> None:
    """A real installed distribution (dist-info with an entry point) on sys.path."""
    (tmp_path / "dg_plugin_demo.py").write_text(textwrap.dedent('''
        import pyarrow as pa
        from distillguard.detectors.base import Detector, signal_table

        class LongPrompts(Detector):
            name = "long_prompts"
            version = "1"
            required_columns = ("request_id", "ts", "account_id", "prompt")

            def __init__(self, *, min_chars: int = 80) -> None:
                self.min_chars = min_chars

            def detect(self, ctx):
                rows = ctx.con.sql(
                    f"SELECT account_id, avg((length(prompt) >= {self.min_chars})::INT) AS share, "
                    "min(request_id) AS ex FROM events GROUP BY 1 ORDER BY 1").fetchall()
                return signal_table([{"account_id": a, "score": s, "value": s,
                                      "detail": f"{s:.0%} of prompts are long", "examples": [e]}
                                     for a, s, e in rows])
    '''))
    info = tmp_path / "dg_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dg-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[distillguard.detectors]\n{ep_name} = dg_plugin_demo:LongPrompts\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("dg_plugin_demo", None)


def test_plugin_detector_is_found_and_conforms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "long_prompts")
    assert "long_prompts" in registry.available("signals")
    det = registry.create("long_prompts", {"min_chars": 40})
    assert det.get_params() == {"min_chars": 40}
    check_detector(det)


def test_plugin_name_clash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "volume")
    with pytest.raises(ConfigError, match="registered twice"):
        registry.available()


def test_unknown_detector_and_bad_params() -> None:
    with pytest.raises(ConfigError, match="unknown detector"):
        registry.create("nope")
    with pytest.raises(ConfigError, match="bad parameters"):
        registry.create("rate_limit", {"no_such_param": 1})
