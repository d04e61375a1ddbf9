"""Member-to-member PSI, and the intel CLI end to end on the test worlds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.intel.hashing import keyring_toml

from . import world

runner = CliRunner()


def test_psi_reveals_only_the_intersection() -> None:
    pytest.importorskip("private_set_intersection.python")
    from distillguard.intel.psi import QueryState, intersect, make_request, respond

    state, req = make_request("email", ["John.Doe+x@gmail.com", "alice@b.example", "bob@b.example"])
    resp = respond("email", ["johndoe@googlemail.com", "someone-else@a.example"], req)
    assert intersect(QueryState.from_bytes(state.to_bytes()), resp) == ["johndoe@gmail.com"]
    assert b"someone-else" not in resp and b"alice" not in req


def test_psi_cli(tmp_path: Path, worlds: dict[str, Any]) -> None:
    pytest.importorskip("private_set_intersection.python")
    confirmed = tmp_path / "confirmed.txt"
    confirmed.write_text("c1\n")
    r1 = runner.invoke(app, ["intel", "psi", "request", str(worlds["b"]["accounts"]), "--out", str(tmp_path / "req"),
                             "--state", str(tmp_path / "st")])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(app, ["intel", "psi", "respond", str(worlds["findings_a"]), "--confirmed", str(confirmed),
                             "--accounts", str(worlds["a"]["accounts"]), "--request", str(tmp_path / "req"),
                             "--out", str(tmp_path / "resp")])
    assert r2.exit_code == 0, r2.output
    r3 = runner.invoke(app, ["intel", "psi", "result", str(worlds["b"]["accounts"]), "--state", str(tmp_path / "st"),
                             "--response", str(tmp_path / "resp")])
    assert r3.exit_code == 0 and "b-atk-0" in r3.stdout and "b-user" not in r3.stdout


def test_cli_export_check_match_decide(tmp_path: Path, worlds: dict[str, Any]) -> None:
    kr = tmp_path / "keyring.toml"
    kr.write_text(keyring_toml("k1", {"k1": world.SECRET_K1}))
    confirmed = tmp_path / "confirmed.json"
    confirmed.write_text(json.dumps(["c1"]))
    bundle = tmp_path / "bundle.json"
    r = runner.invoke(app, ["intel", "export", str(worlds["findings_a"]), "--confirmed", str(confirmed),
                            "--events", str(worlds["a"]["events"]), "--accounts", str(worlds["a"]["accounts"]),
                            "--keyring", str(kr), "--org", "provider-a", "--out", str(bundle)])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    # no --oprf: emails, cards, IPs and subnets are held back, never hashed under the shared key
    assert "2 indicator(s)" in flat and "no OPRF key holder" in flat
    assert not any(json.loads(bundle.read_text())["objects"][i].get("x_distillguard_kind") in ("email", "ip")
                   for i in range(len(json.loads(bundle.read_text())["objects"])))
    assert runner.invoke(app, ["intel", "check", str(bundle)]).exit_code == 0
    doc = json.loads(bundle.read_text())
    doc["objects"][-1]["x_note"] = "call me at 203.0.113.9"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    r = runner.invoke(app, ["intel", "check", str(bad)])
    assert r.exit_code == 2 and "pii-ip" in r.output

    # unknown campaign id: a clear error, not a traceback
    (tmp_path / "nope.txt").write_text("c404\n")
    r = runner.invoke(app, ["intel", "export", str(worlds["findings_a"]), "--confirmed", str(tmp_path / "nope.txt"),
                            "--events", str(worlds["a"]["events"]), "--keyring", str(kr), "--org", "a",
                            "--out", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "c404" in r.output

    # B: store the bundle as if pulled, match, decide
    from distillguard.intel.store import IntelStore

    st = IntelStore(tmp_path / "state")
    st.ingest(json.loads(bundle.read_text())["objects"])
    st.save()
    m = tmp_path / "matches.parquet"
    r = runner.invoke(app, ["intel", "match", "--state", str(tmp_path / "state"), "--events", str(worlds["b"]["events"]),
                            "--accounts", str(worlds["b"]["accounts"]), "--keyring", str(kr), "--out", str(m)])
    assert r.exit_code == 0, r.output
    assert "b-atk-0" in pq.read_table(m).column("account_id").to_pylist()
    # the same events as an OpenAI-style request log, read through --map: the same matches
    from ingest.provider_formats import write_openai

    log = write_openai(pq.read_table(worlds["b"]["events"]), tmp_path / "b-openai.jsonl")
    m2 = tmp_path / "matches-mapped.parquet"
    r = runner.invoke(app, ["intel", "match", "--state", str(tmp_path / "state"), "--events", str(log), "--map", "openai",
                            "--accounts", str(worlds["b"]["accounts"]), "--keyring", str(kr), "--out", str(m2)])
    assert r.exit_code == 0, r.output
    assert sorted(pq.read_table(m2).column("account_id").to_pylist()) == \
        sorted(pq.read_table(m).column("account_id").to_pylist())
    r = runner.invoke(app, ["intel", "match", "--state", str(tmp_path / "state"), "--events", str(log), "--map", "anthropic",
                            "--keyring", str(kr), "--out", str(tmp_path / "none.parquet")])
    assert r.exit_code == 2 and "right --map" in r.output
    r = runner.invoke(app, ["intel", "decide", str(m)])
    assert r.exit_code == 0 and "review" in r.stdout and "throttle" not in r.stdout

    ind = next(o["id"] for o in json.loads(bundle.read_text())["objects"] if o["type"] == "indicator")
    r = runner.invoke(app, ["intel", "retract", ind, "--from", str(bundle), "--out", str(tmp_path / "retract.json")])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["intel", "check", str(tmp_path / "retract.json")]).exit_code == 0
    r = runner.invoke(app, ["intel", "dispute", ind, "--org", "provider-b", "--out", str(tmp_path / "fp.json")])
    assert r.exit_code == 0 and runner.invoke(app, ["intel", "check", str(tmp_path / "fp.json")]).exit_code == 0


def test_cli_keygen_and_rotation(tmp_path: Path) -> None:
    from distillguard.intel.hashing import load_keyring

    k = tmp_path / "k.toml"
    assert runner.invoke(app, ["intel", "keygen", "--out", str(k), "--id", "k2026a"]).exit_code == 0
    k2 = tmp_path / "k2.toml"
    assert runner.invoke(app, ["intel", "keygen", "--out", str(k2), "--id", "k2026b", "--rotate-from", str(k)]).exit_code == 0
    ring = load_keyring(k2)
    assert ring.current == "k2026b" and [x.id for x in ring.valid_keys()] == ["k2026b", "k2026a"]


def test_artefacts_shared_with_innocent_customers_are_held_back(tmp_path: Path, worlds: dict[str, Any]) -> None:
    """At B an innocent customer shares a NAT address with the attacker: that IP must not be shared."""
    from distillguard.intel.export import export_campaigns
    from distillguard.intel.policy import load_policy
    from distillguard.intel.stix import ExportOptions

    fb = world.findings_for("b", tmp_path)
    bundle, rep = export_campaigns(fb, ["c1"], worlds["b"]["events"], worlds["b"]["accounts"], world.keyring(),
                                   ExportOptions(org="provider-b"), load_policy(), oprf=world.oprf())
    assert any(k.startswith("ip") for k in rep.held_back) and any(k.startswith("subnet") for k in rep.held_back)
    nat = world.token("ip", "203.0.113.10")
    assert nat and nat not in json.dumps(bundle)
    assert world.token("ip", "203.0.113.11") in json.dumps(bundle)
