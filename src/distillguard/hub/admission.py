"""Which posted objects the hub admits, and why the others are refused.

Every object in a POST is judged on its own and the verdicts go into the TAXII status
resource (a bad object never fails its neighbours, and never causes a 500):

1. STIX 2.1 validity, by the OASIS ``stix2-validator`` (errors refuse; warnings do not).
2. The consortium sharing policy (``distillguard.intel.policy``): allowed types,
   properties, TLP levels and indicator kinds, and the raw-PII / prompt / competitive
   text scanner. The hub re-checks what members' own guards already checked, because a
   member's guard is not the hub's to trust.
3. Attribution: ``created_by_ref`` must be the posting member's identity (no speaking for
   another member), an ``identity`` may only describe the poster itself, and a new version
   of an existing object may only come from the organisation that created it (so only its
   author can revoke or amend an indicator). The published TLP 2.0 marking-definitions and
   the distillguard extension-definition are admitted only verbatim.
4. Provenance: an indicator flagged ``derived_from_hub`` is stored (members need to see
   it) but its status says it does not count as independent corroboration.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any, Sequence

from distillguard.hub.aggregate import is_derived_from_hub
from distillguard.hub.validation import stix_errors
from distillguard.hub.storage import format_ts
from distillguard.intel import vocab
from distillguard.intel.policy import SharingPolicy, check_bundle

_ISSUE_INDEX = re.compile(r"^objects\[(\d+)\]")

# Objects with fixed, published ids: admitted only if identical to the published text.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    **{mid: vocab.tlp2_marking(level) for level, mid in vocab.TLP2_IDS.items()},
    vocab.CLIENT_EXTENSION_ID: vocab.client_extension_definition(),
    vocab.DISTILLGUARD_IDENTITY_ID: vocab.distillguard_identity(),
}


@dataclass(frozen=True)
class Verdict:
    """The hub's decision on one posted object."""

    index: int
    id: str
    ok: bool
    message: str = ""


def _object_id(i: int, obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]:
        return obj["id"][:200]
    return f"objects[{i}]"


def attribution_error(obj: dict[str, Any], identity_id: str, member_name: str | None = None) -> str | None:
    """Why the poster may not publish this object under its name, or None."""
    oid = obj.get("id")
    if oid in WELL_KNOWN:
        return None if obj == WELL_KNOWN[oid] else f"{oid} is a published object and must be shared verbatim"
    author = obj.get("created_by_ref")
    if obj.get("type") == "identity":
        if oid != identity_id:
            return f"members may only publish their own identity ({identity_id})"
        if member_name is not None and obj.get("name") != member_name:
            return f"an identity's name is pinned to the member's registered name ({member_name!r})"
        return None if author in (None, identity_id) else "an identity must not claim another author"
    if author is None:
        return "created_by_ref is required: every shared object is the opinion of a named member"
    if author != identity_id:
        return f"created_by_ref {author} is not the posting member's identity {identity_id}"
    return None


def judge(objects: Sequence[Any], *, identity_id: str, policy: SharingPolicy,
          owners: dict[str, str | None], member_name: str | None = None,
          stix: list[list[str]] | None = None) -> list[Verdict]:
    """Judge each posted object; ``owners`` maps stored ids to their first creator, hub-wide;
    ``stix`` holds precomputed validator errors per object (else validated here)."""
    problems: dict[int, list[str]] = {i: [] for i in range(len(objects))}
    errs = stix if stix is not None else [stix_errors(o) for o in objects]
    for i in range(len(objects)):
        problems[i].extend(f"invalid STIX: {e}" for e in errs[i][:5])
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}
    for issue in check_bundle(bundle, policy):
        m = _ISSUE_INDEX.match(issue.path)
        targets = [int(m.group(1))] if m else list(problems)
        for t in targets:
            if t in problems:
                problems[t].append(f"refused by sharing policy {policy.version}: {issue}")
    verdicts = []
    for i, obj in enumerate(objects):
        oid = _object_id(i, obj)
        msgs = problems[i]
        if not msgs and isinstance(obj, dict):
            err = attribution_error(obj, identity_id, member_name)
            if err:
                msgs.append(f"attribution: {err}")
            if oid not in WELL_KNOWN and oid in owners and owners[oid] != obj.get("created_by_ref"):
                msgs.append("attribution: only the organisation that created this object may version or revoke it")
        if msgs:
            verdicts.append(Verdict(i, oid, False, "; ".join(msgs)[:2000]))
        elif isinstance(obj, dict) and obj.get("type") == "indicator" and is_derived_from_hub(obj):
            verdicts.append(Verdict(i, oid, True, "stored; derived from a hub signal, so it never counts "
                                                  "as independent corroboration"))
        else:
            verdicts.append(Verdict(i, oid, True))
    return verdicts


def new_status(total: int) -> dict[str, Any]:
    """An empty, complete status resource (section 4.3.1)."""
    return {"id": str(uuid.uuid4()), "status": "complete",
            "request_timestamp": format_ts(datetime.now(timezone.utc)), "total_count": total,
            "success_count": 0, "successes": [], "failure_count": 0, "failures": [],
            "pending_count": 0, "pendings": []}


def fill_status(status: dict[str, Any], verdicts: list[Verdict], stored: dict[int, str],
                date_added: str | None) -> dict[str, Any]:
    """Record each verdict as a success (with the stored version) or a failure."""
    for v in verdicts:
        if v.ok:
            entry = {"id": v.id, "version": stored.get(v.index, date_added or "")}
            if v.message:
                entry["message"] = v.message
            status["successes"].append(entry)
        else:
            status["failures"].append({"id": v.id, "message": v.message})
    status["success_count"] = len(status["successes"])
    status["failure_count"] = len(status["failures"])
    return status
