"""The sharing policy guard refuses raw personal data, prompts, competitive data and anything unlisted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from distillguard.errors import ConfigError, PolicyViolation
from distillguard.intel import vocab
from distillguard.intel.policy import check_bundle, enforce, load_policy, parse_policy, scan_text

POLICY = load_policy()


def _indicator(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in bundle["objects"] if o["type"] == "indicator")


def codes(bundle: Any) -> set[str]:
    return {i.code for i in check_bundle(bundle, POLICY)}


def test_exported_bundle_passes(bundle_a: dict[str, Any]) -> None:
    assert check_bundle(bundle_a, POLICY) == []
    enforce(bundle_a, POLICY)


@pytest.mark.parametrize("field,value,code", [
    ("name", "contact john.doe@gmail.com", "pii-email"),
    ("description", "seen from 203.0.113.10 mostly", "pii-ip"),
    ("description", "seen from 2001:db8::1 mostly", "pii-ip"),
    ("description", "card 4111 1111 1111 1111 used", "pii-card"),
    ("description", "Solve the following problem step by step and show your full reasoning", "prompt-like"),
    ("description", "word " * 60, "free-text"),
    ("description", "campaign cost us revenue", "competitive"),
    ("description", "accounts on the enterprise tier", "competitive"),
    ("description", "they paid $4000", "competitive"),
])
def test_raw_content_is_refused(bundle_a: dict[str, Any], field: str, value: str, code: str) -> None:
    b = copy.deepcopy(bundle_a)
    _indicator(b)[field] = value
    assert code in codes(b)
    with pytest.raises(PolicyViolation) as e:
        enforce(b, POLICY)
    assert code in str(e.value)
    assert "john.doe" not in str(e.value) and "203.0.113" not in str(e.value)  # refusals never echo the value


@pytest.mark.parametrize("pattern,code", [
    ("[email-addr:value = 'john.doe@gmail.com']", "pattern-form"),
    ("[x-llm-api-client:email_hmac = 'john.doe@gmail.com']", "pii-email"),
    ("[x-llm-api-client:email_hmac = 'k1:abc']", "pattern-value"),
    ("[x-llm-api-client:prompt_text = 'k1:" + "ab" * 32 + "']", "pattern-property"),
    ("[x-llm-api-client:template_sketch = 'k1:mh4:00']", "pattern-value"),
])
def test_patterns_must_be_keyed(bundle_a: dict[str, Any], pattern: str, code: str) -> None:
    b = copy.deepcopy(bundle_a)
    _indicator(b)["pattern"] = pattern
    found = codes(b)
    assert found & {code, "pattern-form", "pattern-value", "pattern-property"}, found


def test_structure_is_deny_by_default(bundle_a: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle_a)
    _indicator(b)["x_customer_count"] = 12
    b["objects"].append({"type": "x-revenue-report", "id": "x-revenue-report--1"})
    ind = _indicator(b)
    ind["object_marking_refs"] = [vocab.TLP2_IDS["red"]]
    found = codes(b)
    assert {"property-denied", "type-denied", "tlp-denied"} <= found
    del ind["object_marking_refs"]
    assert "tlp-missing" in codes(b)


def test_indicator_kind_can_be_denied(bundle_a: dict[str, Any]) -> None:
    from importlib import resources

    text = resources.files("distillguard.intel").joinpath("default_policy.toml").read_text()
    strict = parse_policy(
        text.replace('allowed_indicator_kinds = ["email", "payment", "ip", "subnet", "client", "template"]',
                                  'allowed_indicator_kinds = ["payment"]'))
    issues = check_bundle(bundle_a, strict)
    assert any(i.code == "kind-denied" for i in issues)


@pytest.mark.parametrize("garbage", [None, [], "bundle", {"type": "bundle", "objects": "x"},
                                     {"type": "bundle", "objects": [None, 3, {"type": 5}]},
                                     {"type": "bundle", "objects": [{"type": "indicator", "pattern": 7}]}])
def test_never_raises_on_bad_content(garbage: Any) -> None:
    issues = check_bundle(garbage, POLICY)
    assert issues, "garbage must not pass"


def test_scanner_leaves_technical_strings_alone() -> None:
    for s in ["k1:" + "0123456789" * 6 + "abcd", "2026-03-01T00:00:00.000Z", "indicator--6c1f4a3e-3b0e-4c52-9d1a-5f0d2b7e9a41",
              "Extract AI Model", "keyed payment fingerprint digest"]:
        assert scan_text(s, POLICY) == [], s


def test_bad_policy_files_are_config_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError):
        parse_policy("[policy]\nname='x'\n")
    with pytest.raises(ConfigError):
        parse_policy("[policy]\nname='x'\nversion='1'\nallowed_tlp=['purple']\nallowed_indicator_kinds=[]\n[types]\n")
    with pytest.raises(ConfigError):
        load_policy(tmp_path / "missing.toml")


def test_uuid_digit_runs_are_not_cards() -> None:
    # found by the collective bench: a Luhn-valid digit run inside a random sighting id
    assert scan_text("sighting--34007043-5928-4673-b723-29f8d00ce316", POLICY) == []
    assert [c for c, _ in scan_text("paid with 4111-1111-1111-1111", POLICY)] == ["pii-card"]


PROMPT_2K = ("You are a meticulous tutor. Solve the following olympiad problem step by step, "
             "showing every intermediate result before the final answer. ") * 15


@pytest.mark.parametrize("where,code", [
    ("labels", "free-text"),
    ("external_references.description", "free-text"),
    ("external_references.external_id", "free-text"),
    ("extensions.key", "key-form"),
    ("extensions.value", "free-text"),
])
def test_probe6_prompts_hidden_anywhere_are_refused_with_their_path(bundle_a: dict[str, Any], where: str,
                                                                    code: str) -> None:
    b = copy.deepcopy(bundle_a)
    i = b["objects"].index(_indicator(b))
    ind = b["objects"][i]
    ext = vocab.CLIENT_EXTENSION_ID
    if where == "labels":
        ind["labels"].append(PROMPT_2K)
        path = f"objects[{i}].labels[2]"
    elif where.startswith("external_references"):
        ind.setdefault("external_references", []).append({"source_name": "note", where.split(".")[1]: PROMPT_2K})
        path = f"objects[{i}].external_references[0].{where.split('.')[1]}"
    elif where == "extensions.key":
        ind["extensions"][ext]["x_" + PROMPT_2K] = True
        path = f"objects[{i}].extensions.{ext}.<key>"
    else:
        ind["extensions"][ext]["x_note"] = {"deep": [{"deeper": PROMPT_2K}]}
        path = f"objects[{i}].extensions.{ext}.x_note.deep[0].deeper"
    issues = check_bundle(b, POLICY)
    assert any(x.code == code and x.path == path for x in issues), [str(x) for x in issues]
    assert all("meticulous" not in str(x) for x in issues)  # refusals never echo the text


@pytest.mark.parametrize("value,code", [
    ("acct_9f8e7d6c", "raw-id"),
    ("shared by fp_card_attacker_777", "raw-id"),
    ("host_10.28.64.202", "pii-ip"),
    ("ip-10-28-64-202", "pii-ip"),
    ("node_10_28_64_202", "pii-ip"),
    ("john＠example.com", "pii-email"),
    ("ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "pii-email"),
    ("john [at] example [dot] com", "pii-email"),
    ("jo\u200bhn@exa\u200bmple.com", "pii-email"),
    ("２０３．０．１１３．７", "pii-ip"),
])
def test_probe6_disguised_identifiers_are_refused(bundle_a: dict[str, Any], value: str, code: str) -> None:
    for field in ("name", "labels", "x_distillguard_detector"):
        b = copy.deepcopy(bundle_a)
        ind = _indicator(b)
        if field == "labels":
            ind["labels"] = [value]
        else:
            ind[field] = value
        assert code in codes(b), (field, value, codes(b))


def test_probe6_keys_are_scanned_too(bundle_a: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle_a)
    _indicator(b)["extensions"][vocab.CLIENT_EXTENSION_ID]["john.doe@gmail.com"] = 1
    found = codes(b)
    assert {"pii-email", "key-form"} <= found


def test_raw_id_patterns_come_from_the_policy() -> None:
    from importlib import resources

    text = resources.files("distillguard.intel").joinpath("default_policy.toml").read_text()
    mine = parse_policy(text.replace("[types]", 'raw_id_patterns = ["usr-[0-9]{5,}"]\n[types]', 1)
                        .replace("[policy]", "[policy]", 1))
    assert [c for c, _ in scan_text("see usr-123456", mine)] == ["raw-id"]
    assert scan_text("see acct_12345", mine) == []
    with pytest.raises(ConfigError):
        parse_policy(text.replace("[types]", 'raw_id_patterns = ["(unclosed"]\n[types]', 1))


def test_signatures_are_checked_by_form_not_read_as_words(bundle_a: dict[str, Any]) -> None:
    """A signature is 64 random bytes in base64, which spells a denied term ("/arR+") now and then:
    it must pass whatever its bytes, and anything that is not a signature's form must not."""
    import base64

    b = copy.deepcopy(bundle_a)
    ind = _indicator(b)
    raw = bytearray(64)
    raw[9:12] = base64.b64decode("/arR")  # the bytes whose base64 reads "/arR" (a denied word, ARR)
    ind["x_distillguard_signature"] = "ed25519:" + base64.b64encode(bytes(raw)).decode()
    assert "arR" in ind["x_distillguard_signature"]
    if "x_distillguard_signature" not in POLICY.types["indicator"]:
        pytest.skip("the default policy does not list signatures on indicators")
    assert codes(b) == set()
    ind["x_distillguard_signature"] = "ed25519:contact me at alice@example.org"
    assert "signature-form" in codes(b)
