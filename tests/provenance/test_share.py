"""A provenance result as STIX 2.1: refused by the default deny-by-default policy, shared under one
that allows notes, valid STIX, and carrying no account ids."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.errors import PolicyViolation
from distillguard.intel.policy import load_policy, parse_policy
from distillguard.intel.stix import parse, validate
from distillguard.provenance.share import share

REPORT = {"combined": {"p_value": 2.5e-12, "tests": 14}, "probes": 300, "alpha": 0.01, "distillguard": "0.1.0",
          "generated_at": "2026-12-01T10:00:00Z", "traced": ["acct_05"], "accounts": [{"account_id": "acct_05"}]}


def _notes_policy() -> str:
    text = resources.files("distillguard.intel").joinpath("default_policy.toml").read_text()
    return text.replace("[types]\n", '[types]\nnote = ["type", "spec_version", "id", "created", "modified", '
                                     '"created_by_ref", "abstract", "content", "object_refs", "object_marking_refs"]\n', 1)


def test_default_policy_refuses_a_note() -> None:
    with pytest.raises(PolicyViolation, match="note"):
        share(REPORT, "Example Lab", "suspect-7b", load_policy(None))


def test_shared_under_a_policy_that_allows_notes(tmp_path: Path) -> None:
    b = share(REPORT, "Example Lab", "suspect-7b", parse_policy(_notes_policy()))
    assert validate(b)[0] == []
    parse(b)
    note = next(o for o in b["objects"] if o["type"] == "note")
    assert "2.5e-12" in note["content"] and "evidence" in note["abstract"]
    assert "acct_05" not in json.dumps(b)
    pol = tmp_path / "policy.toml"
    pol.write_text(_notes_policy())
    rep = tmp_path / "provenance.json"
    rep.write_text(json.dumps(REPORT))
    r = CliRunner().invoke(app, ["provenance", "share", str(rep), "--org", "Example Lab", "--suspect", "suspect-7b",
                                 "--policy", str(pol), "--out", str(tmp_path / "b.json")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["provenance", "share", str(rep), "--org", "Example Lab", "--suspect", "suspect-7b",
                                 "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 2 and "refused" in r.output and not (tmp_path / "c.json").exists()
