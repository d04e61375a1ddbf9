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
