"""Bundles pass the OASIS validator and parse back with stix2; the audit log detects tampering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stix2
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.errors import AuditTamperedError
from distillguard.intel import vocab
from distillguard.intel.audit import AuditLog
from distillguard.intel.policy import check_bundle, load_policy
from distillguard.intel.stix import false_positive_opinion, parse, revoke, validate, wrap


def test_bundle_validates_and_parses(bundle_a: dict[str, Any]) -> None:
    errors, _warnings = validate(bundle_a)
    assert errors == []
    parsed = parse(bundle_a)
    assert isinstance(parsed, stix2.v21.Bundle)
    types = {o["type"] for o in bundle_a["objects"]}
    assert {"identity", "campaign", "attack-pattern", "indicator", "relationship", "sighting",
            "marking-definition", "extension-definition"} <= types
    kinds = {o[vocab.PROP_KIND] for o in bundle_a["objects"] if o["type"] == "indicator"}
    assert {"payment", "email", "ip", "subnet", "client", "template"} <= kinds
    atlas = {r["external_id"] for o in bundle_a["objects"] if o["type"] == "attack-pattern"
             for r in o["external_references"]}
    assert {"AML.T0024.002", "AML.T0005.001", "AML.T0065"} <= atlas
    for o in bundle_a["objects"]:
        if o["type"] not in ("marking-definition", "extension-definition") and o["id"] != vocab.DISTILLGUARD_IDENTITY_ID:
            assert o["object_marking_refs"] == [vocab.TLP2_IDS["amber"]]
    ind = next(o for o in bundle_a["objects"] if o["type"] == "indicator")
    assert ind["valid_until"] > ind["valid_from"] and ind[vocab.PROP_CATEGORY] == "confirmed"
    assert ind[vocab.PROP_DETECTOR] == "distillguard" and ind[vocab.PROP_DERIVED_FROM_HUB] is False


def test_nothing_raw_in_the_bundle(bundle_a: dict[str, Any], worlds: dict[str, Any]) -> None:
    text = json.dumps(bundle_a).lower()
    for raw in ["john.doe", "johndoe", "gmail", "203.0.113", "fp_card_attacker", "a-atk-", "httpx", "solve the following",
                "worker1", "mailbox.example"]:
        assert raw not in text, raw


def test_unconfirmed_campaigns_and_shared_artefacts_stay_home(bundle_a: dict[str, Any]) -> None:
    camps = [o for o in bundle_a["objects"] if o["type"] == "campaign"]
    assert len(camps) == 1  # only c1 was confirmed


def test_retraction_and_opinion_are_valid(bundle_a: dict[str, Any]) -> None:
    ind = next(o for o in bundle_a["objects"] if o["type"] == "indicator")
    r = revoke(ind)
    assert r["id"] == ind["id"] and r["revoked"] is True and r["modified"] > ind["modified"]
    op = false_positive_opinion(ind["id"], "provider-b")
    b = wrap([r, op], "provider-b")
    assert validate(b)[0] == []
    assert check_bundle(b, load_policy()) == []
    parse(b)


def _log(tmp_path: Path, n: int = 3) -> AuditLog:
    log = AuditLog(tmp_path / "audit")
    for i in range(n):
        log.append(action="push", payload=json.dumps({"objects": [i]}).encode(), destination="https://hub/x/",
                   policy=load_policy(), summary={"objects": 1})
    return log


def test_audit_chain_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    rep = log.verify()
    assert rep.entries == 3
    e = log.entries()[1]
    assert e["policy_version"] == load_policy().version and e["destination"] == "https://hub/x/"
    log.verify(expect_head=rep.head)


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "payload", "truncate"])
def test_audit_tampering_is_detected(tmp_path: Path, tamper: str) -> None:
    log = _log(tmp_path)
    head = log.verify().head
    lines = log.path.read_text().splitlines()
    if tamper == "edit":
        lines[1] = lines[1].replace("https://hub/x/", "https://elsewhere/")
    elif tamper == "delete":
        del lines[1]
    elif tamper == "reorder":
        lines[0], lines[1] = lines[1], lines[0]
    elif tamper == "truncate":
        lines = lines[:2]
    if tamper == "payload":
        sha = log.entries()[0]["payload_sha256"]
        (log.folder / "sent" / f"{sha}.json").write_text('{"objects": ["changed"]}')
    else:
        log.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditTamperedError):
        log.verify(expect_head=head)
    res = CliRunner().invoke(app, ["intel", "audit", "verify", str(log.folder), "--head", head])
    assert res.exit_code == 2


def test_cli_audit_verify_ok(tmp_path: Path) -> None:
    log = _log(tmp_path)
    res = CliRunner().invoke(app, ["intel", "audit", "verify", str(log.folder)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("tamper", ["drop-last", "drop-last-two", "empty", "delete-file"])
def test_probe8_truncation_from_the_end_is_detected(tmp_path: Path, tamper: str) -> None:
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    if tamper == "drop-last":
        log.path.write_text("\n".join(lines[:-1]) + "\n")
    elif tamper == "drop-last-two":
        log.path.write_text("\n".join(lines[:-2]) + "\n")
    elif tamper == "empty":
        log.path.write_text("")
    else:
        log.path.unlink()
    with pytest.raises(AuditTamperedError, match="removed from the end|emptied"):
        log.verify()
    res = CliRunner().invoke(app, ["intel", "audit", "verify", str(log.folder)])
    assert res.exit_code == 2, res.output


def test_probe8_keyed_head_cannot_be_rewritten_for_a_shorter_log(tmp_path: Path) -> None:
    from distillguard.intel.audit import AuditLog

    key = b"\x07" * 32
    keyed = AuditLog(tmp_path / "audit", key=key)
    policy = load_policy()
    for i in range(3):
        keyed.append(action="push", payload=f'{{"n": {i}}}'.encode(), destination="https://hub/x/", policy=policy)
    keyed.verify()
    lines = keyed.path.read_text().splitlines()
    keyed.path.write_text("\n".join(lines[:-1]) + "\n")
    last = json.loads(lines[-2])
    # the attacker rewrites HEAD to match the shortened log, but has no key
    keyed.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"], "mac": "00" * 32}))
    with pytest.raises(AuditTamperedError, match="MAC"):
        keyed.verify()
    AuditLog(tmp_path / "audit").verify()  # without the key only consistency is checked (documented)
    kf = tmp_path / "audit.key"
    kf.write_text(key.hex())
    res = CliRunner().invoke(app, ["intel", "audit", "verify", str(keyed.folder), "--audit-key", str(kf)])
    assert res.exit_code == 2 and "MAC" in res.output
