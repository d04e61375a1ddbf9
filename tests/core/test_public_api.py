"""The curated public API and the command line's help are what users meet first."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import distillguard
from distillguard.cli import COMMAND_MODULES, app


def test_all_names_exist() -> None:
    assert sorted(distillguard.__all__) == sorted(set(distillguard.__all__))
    for name in distillguard.__all__:
        assert getattr(distillguard, name) is not None


def test_every_command_module_registers() -> None:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    groups = {g.name for g in app.registered_groups}
    for mod in COMMAND_MODULES:
        assert mod in names | groups, f"command {mod} did not register"


@pytest.mark.parametrize("cmd", [[]] + [[m] for m in COMMAND_MODULES])
def test_help_renders(cmd: list[str]) -> None:
    r = CliRunner().invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def test_version() -> None:
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and distillguard.__version__ in r.output


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(app, ["validate", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "no such file" in r.output and "Traceback" not in r.output
