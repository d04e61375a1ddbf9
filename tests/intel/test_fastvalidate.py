"""The cached stix2-validator gives exactly the stock validator's verdicts."""

from __future__ import annotations

import copy
from typing import Any

from stix2validator import ValidationOptions, validate_instance

from distillguard.intel import fastvalidate


def _results(objs: list[Any]) -> list[tuple[bool, list[str], list[str]]]:
    opts = ValidationOptions(version="2.1")
    out = []
    for o in objs:
        r = validate_instance(o, opts)
        out.append((r.is_valid, [str(e) for e in r.errors], [str(w) for w in r.warnings]))
    return out


def test_cached_validator_matches_stock(bundle_a: dict[str, Any]) -> None:
    objs = copy.deepcopy(bundle_a["objects"])
    ind = next(o for o in objs if o["type"] == "indicator")
    broken = []
    for change in ({"pattern": "[nope"}, {"pattern": "[x-llm-api-client:ip_hmac = b'abc']"},
                   {"pattern": "[x-llm-api-client:ip_hmac = 'a' AND x-llm-api-client:ip_hmac = 'b']"},
                   {"pattern": "[ipv4-addr:value = 'not an ip']"}, {"created": "yesterday"},
                   {"modified": "2000-01-01T00:00:00.000Z"}, {"valid_from": "2026-13-45T00:00:00Z"},
                   {"confidence": 101}, {"id": "indicator--not-a-uuid"}, {"type": "indicator", "pattern_type": "x"}):
        broken.append({**ind, **change})
    no_valid_from = dict(ind)
    del no_valid_from["valid_from"]
    corpus = objs + broken + [no_valid_from, copy.deepcopy(bundle_a)]
    assert fastvalidate.install()
    fast = _results(corpus)
    fastvalidate.uninstall()
    try:
        stock = _results(corpus)
    finally:
        fastvalidate.install()
    assert fast == stock
    assert sum(not ok for ok, _, _ in fast) >= 8  # the broken ones really are invalid
