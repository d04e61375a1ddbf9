"""Share a provenance result as STIX 2.1, through the intel sharing policy guard.

The bundle holds our organisation's identity, the TLP marking, an ``identity`` of class
``system`` naming the suspect model, and a ``note`` about it: the verdict, the combined
p-value, the number of tests and probes. No account ids, prompts, outputs or endpoint
addresses leave: they are our customers' data and the evidence file stays with us.

Every bundle goes through :func:`distillguard.intel.policy.enforce` before it is written.
The packaged deny-by-default policy lists no ``note`` type, so it refuses provenance notes
until an operator's policy file allows them (docs/provenance.md shows the two lines).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from distillguard.intel import stix, vocab
from distillguard.intel.policy import SharingPolicy, enforce


def provenance_bundle(report: dict[str, Any], org: str, suspect_name: str, *, tlp: str = "amber",
                      now: datetime | None = None) -> dict[str, Any]:
    when = stix.ts(now or datetime.now(timezone.utc))
    org_id = stix.org_identity_id(org)
    marking = [vocab.TLP2_IDS[tlp]]
    sus_id = stix.stable_id("identity", "suspect-model", org, suspect_name)
    suspect = {"type": "identity", "spec_version": "2.1", "id": sus_id, "created": when, "modified": when,
               "created_by_ref": org_id, "name": suspect_name, "identity_class": "system",
               "object_marking_refs": marking}
    p = float(report["combined"]["p_value"])
    found = p < float(report["alpha"])
    abstract = ("Provenance test: evidence this model learnt from our outputs" if found
                else "Provenance test: no evidence this model learnt from our outputs")
    content = (f"Combined p-value {p:.2g} (Holm over {report['combined']['tests']} tests, {report['probes']} probes, "
               f"alpha {report['alpha']}): keyed watermark and canary tests by distillguard "
               f"{report.get('distillguard', '')}.")
    note = {"type": "note", "spec_version": "2.1",
            "id": stix.stable_id("note", org, suspect_name, str(report.get("generated_at", when))),
            "created": when, "modified": when, "created_by_ref": org_id, "abstract": abstract,
            "content": content, "object_refs": [sus_id], "object_marking_refs": marking}
    return stix.wrap([suspect, note], org, tlp)


def share(report: dict[str, Any], org: str, suspect_name: str, policy: SharingPolicy, *, tlp: str = "amber",
          now: datetime | None = None) -> dict[str, Any]:
    """The bundle, after the policy guard (raises PolicyViolation listing every issue)."""
    bundle = provenance_bundle(report, org, suspect_name, tlp=tlp, now=now)
    enforce(bundle, policy)
    return bundle
