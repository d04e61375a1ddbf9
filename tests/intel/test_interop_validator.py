"""Everything we send is clean under the OASIS stix2-validator in strict mode (issue 10)."""

from __future__ import annotations

from typing import Any

from stix2validator import ValidationOptions, validate_instance

from distillguard.intel.stix import false_positive_opinion, revoke, wrap


def test_exports_retractions_and_disputes_pass_strict_validation(bundle_a: dict[str, Any]) -> None:
    ind = next(o for o in bundle_a["objects"] if o["type"] == "indicator")
    bundles = {"export": bundle_a, "retraction": wrap([revoke(ind)], "provider-a"),
               "dispute": wrap([false_positive_opinion(ind["id"], "provider-b")], "provider-b")}
    for name, b in bundles.items():
        r = validate_instance(b, ValidationOptions(version="2.1", strict=True))
        assert r.is_valid, (name, [str(e) for e in r.errors][:5])
