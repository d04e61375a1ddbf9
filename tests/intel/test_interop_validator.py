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


def test_opencti_profile_is_standard_stix_plus_opencti_score(bundle_a: dict[str, Any]) -> None:
    from distillguard.intel.policy import check_bundle, load_policy
    from distillguard.intel.stix import opencti_profile

    b = opencti_profile(bundle_a)
    assert not any(o["type"] == "extension-definition" for o in b["objects"])
    assert not any(k.startswith("x_distillguard_") or (k == "extensions" and o["type"] != "marking-definition")
                   for o in b["objects"] for k in o)
    inds = [o for o in b["objects"] if o["type"] == "indicator"]
    src = {o["id"]: o for o in bundle_a["objects"] if o["type"] == "indicator"}
    assert inds and all(o["x_opencti_score"] == src[o["id"]]["confidence"] and o["x_opencti_detection"] for o in inds)
    assert all(src[o["id"]]["x_distillguard_kind"] in o["labels"] for o in inds)  # kind still visible
    assert check_bundle(b, load_policy()) == []
    # OpenCTI's own convention is a bare x_opencti_* property: strict mode's only objection
    # is that (401, "use an extension"); everything else is strict-clean
    r = validate_instance(b, ValidationOptions(version="2.1", strict=True, disabled=["401"]))
    assert r.is_valid, [str(e) for e in r.errors][:5]
