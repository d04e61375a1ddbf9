"""Confirmed campaigns -> a STIX 2.1 bundle (a backend over findings; detectors never see STIX).

One bundle holds: the member's ``identity``; the TLP 2.0 marking it is shared under; our
extension-definition for ``x-llm-api-client``; per campaign a ``campaign``, an
``attack-pattern`` per ATLAS technique (``uses`` relationships), and per artefact an
``indicator`` (``indicates`` the campaign) with a ``sighting`` (count = campaign accounts
showing it, first/last seen). Every indicator is an *opinion* of this member: it carries
confidence, valid_from/valid_until (expiry by default), the detector name and version,
the category and whether the detection was caused by hub intel (provenance).

Ids are UUIDv4-shaped HMACs of the content under the member's own *id key*
(``ExportOptions.id_key``, never shared): re-exporting the same campaign with the same id
key updates objects instead of duplicating them, a retraction names the exact id, and no
other member can predict an id to squat it (the id key is not the consortium keyring).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import stix2

from distillguard.atlas import TECHNIQUES, techniques_for
from distillguard.errors import InputError
from distillguard.findings import Campaign
from distillguard.intel import vocab
from distillguard.intel.artefacts import Artefact

# how long an indicator stays valid unless renewed: infrastructure churns fastest
TTL_DAYS: dict[str, int] = {"email": 180, "payment": 180, "template": 90, "client": 30, "ip": 30, "subnet": 14}
# how much a kind says about the actor, relative to the campaign's own confidence
KIND_WEIGHT: dict[str, float] = {"payment": 1.0, "email": 0.95, "template": 0.7, "ip": 0.6, "subnet": 0.45, "client": 0.4}
KIND_NAME: dict[str, str] = {
    "email": "keyed email digest", "payment": "keyed payment fingerprint digest", "ip": "keyed IP digest",
    "subnet": "keyed subnet digest", "client": "keyed client string digest", "template": "keyed prompt template sketch",
}


def stable_id(stix_type: str, *parts: str, key: bytes | None = None) -> str:
    """An id in UUIDv4 form (the spec asks for v4) from the given parts.

    With ``key`` (a member's private id key) it is an HMAC: stable for that member,
    unpredictable to everyone else. Without one it is a plain hash (tests, fixed objects).
    """
    data = "\x1f".join((stix_type, *parts)).encode()
    h = (hmac.new(key, data, hashlib.sha256).digest() if key else hashlib.sha256(data).digest())[:16]
    return f"{stix_type}--{uuid.UUID(bytes=h, version=4)}"


def ts(dt: datetime) -> str:
    """STIX timestamp text (UTC, millisecond precision)."""
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def org_identity_id(org: str) -> str:
    return stable_id("identity", "member", org)


@dataclass
class CampaignIntel:
    """A confirmed campaign with the artefacts to share and where the verdict came from."""

    campaign: Campaign
    artefacts: list[Artefact]
    detector: str = "distillguard"
    detector_version: str = "unknown"
    derived_from_hub: bool = False


@dataclass
class ExportOptions:
    org: str
    identity_id: str | None = None  # the identity the hub registered for this member
    tlp: str = "amber"
    category: str = "confirmed"
    policy_version: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    ttl_days: dict[str, int] = field(default_factory=lambda: dict(TTL_DAYS))
    # the member's private id key (``intel export --id-key``); default: fresh per export, so
    # ids are unpredictable but a re-export creates new objects instead of new versions
    id_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))


def _custom(obj: dict[str, Any], **props: Any) -> dict[str, Any]:
    obj.update({vocab.PREFIX + k: v for k, v in props.items()})
    obj["extensions"] = vocab.extension_marker()
    return obj


def _base(stix_type: str, oid: str, opts: ExportOptions, marking: str, org_id: str) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": oid, "created": ts(opts.now), "modified": ts(opts.now),
            "created_by_ref": org_id, "object_marking_refs": [marking]}


def _pattern(a: Artefact) -> str:
    return f"[{vocab.CLIENT_SCO_TYPE}:{vocab.KIND_PROPERTY[a.kind]} = '{a.value}']"


def build_bundle(items: list[CampaignIntel], opts: ExportOptions) -> dict[str, Any]:
    """The STIX 2.1 bundle (a plain dict) for confirmed campaigns, ready for the policy guard."""
    if opts.tlp not in vocab.TLP2_IDS:
        raise InputError(f"unknown TLP level {opts.tlp!r}; use {list(vocab.TLP2_IDS)}")
    if opts.category not in vocab.CATEGORIES:
        raise InputError(f"unknown category {opts.category!r}; use {list(vocab.CATEGORIES)}")
    marking = vocab.TLP2_IDS[opts.tlp]
    org_id = opts.identity_id or org_identity_id(opts.org)
    objects: list[dict[str, Any]] = [
        vocab.tlp2_marking(opts.tlp),
        vocab.distillguard_identity(),
        vocab.client_extension_definition(),
        {"type": "identity", "spec_version": "2.1", "id": org_id, "created": ts(opts.now), "modified": ts(opts.now),
         "name": opts.org, "identity_class": "organization", "object_marking_refs": [marking]},
    ]
    seen_patterns: set[str] = set()
    for item in items:
        c = item.campaign
        conf = int(round(100 * max(0.0, min(1.0, c.score))))
        if opts.category == "investigation-seed":
            conf = min(conf, 50)
        cid = stable_id("campaign", opts.org, c.id, key=opts.id_key)
        camp = _base("campaign", cid, opts, marking, org_id)
        camp.update({"name": f"distillation campaign {cid[-12:]}",
                     "description": "Coordinated accounts extracting model outputs through the inference API.",
                     "confidence": conf, "labels": ["model-distillation", opts.category]})
        if c.first_seen:
            camp["first_seen"] = ts(datetime.fromisoformat(str(c.first_seen)))
        if c.last_seen:
            camp["last_seen"] = ts(datetime.fromisoformat(str(c.last_seen)))
        objects.append(_custom(camp, category=opts.category, detector=item.detector,
                               detector_version=item.detector_version, derived_from_hub=item.derived_from_hub,
                               policy_version=opts.policy_version))
        tech_ids = [t for t in (c.atlas_techniques or techniques_for(list(c.signals))) if t in TECHNIQUES]
        for tid in tech_ids:
            t = TECHNIQUES[tid]
            apid = stable_id("attack-pattern", opts.org, tid, key=opts.id_key)
            if not any(o["id"] == apid for o in objects):
                ap = _base("attack-pattern", apid, opts, marking, org_id)
                ap.update({"name": t.name, "external_references": [
                    # no url: stix2-validator strict mode wants a hash with every URL (rule 302), and
                    # source_name + external_id identify the ATLAS technique unambiguously
                    {"source_name": "mitre-atlas", "external_id": t.id}]})
                objects.append(ap)
            rel = _base("relationship", stable_id("relationship", cid, "uses", apid, key=opts.id_key), opts, marking, org_id)
            rel.update({"relationship_type": "uses", "source_ref": cid, "target_ref": apid})
            objects.append(rel)
        for a in item.artefacts:
            pattern = _pattern(a)
            iid = stable_id("indicator", opts.org, pattern, key=opts.id_key)
            if pattern not in seen_patterns:
                seen_patterns.add(pattern)
                ind = _base("indicator", iid, opts, marking, org_id)
                ind.update({
                    "name": KIND_NAME[a.kind],
                    "description": f"{KIND_NAME[a.kind].capitalize()} seen in a {opts.category} distillation campaign.",
                    "indicator_types": ["malicious-activity"],
                    "pattern": pattern, "pattern_type": "stix", "pattern_version": "2.1",
                    "valid_from": ts(opts.now),
                    "valid_until": ts(opts.now + timedelta(days=opts.ttl_days.get(a.kind, 30))),
                    "confidence": int(round(conf * KIND_WEIGHT[a.kind])),
                    "labels": [opts.category, a.kind],
                })
                objects.append(_custom(ind, kind=a.kind, category=opts.category, detector=item.detector,
                                       detector_version=item.detector_version,
                                       derived_from_hub=item.derived_from_hub,
                                       key_id=a.value.split(":", 1)[0], policy_version=opts.policy_version))
            rel = _base("relationship", stable_id("relationship", iid, "indicates", cid, key=opts.id_key), opts, marking, org_id)
            rel.update({"relationship_type": "indicates", "source_ref": iid, "target_ref": cid})
            objects.append(rel)
            sig = _base("sighting", stable_id("sighting", opts.org, iid, cid, key=opts.id_key), opts, marking, org_id)
            sig.update({"sighting_of_ref": iid, "count": max(1, a.accounts), "where_sighted_refs": [org_id]})
            if a.first_seen and a.last_seen:
                sig["first_seen"], sig["last_seen"] = ts(a.first_seen), ts(max(a.last_seen, a.first_seen))
            objects.append(_custom(sig, derived_from_hub=item.derived_from_hub))
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


OPENCTI_DROP_TYPES = ("extension-definition",)


def opencti_profile(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle in OpenCTI's conventions (``intel export --profile opencti``).

    OpenCTI's import workbench drops objects carrying properties it does not know and drops
    extension-definition objects, so this profile keeps only standard STIX plus OpenCTI's own
    ``x_opencti_score`` (0-100, our confidence) and ``x_opencti_detection`` on indicators: no
    ``x_distillguard_*`` properties, no ``extensions`` marker, no extension-definition (and
    not the project identity that authors it). Category and kind stay visible as ``labels``.
    Signatures are dropped too (they cover the full object); sign after profiling if needed.
    """
    out = []
    for o in bundle["objects"]:
        if o.get("type") in OPENCTI_DROP_TYPES or o.get("id") == vocab.DISTILLGUARD_IDENTITY_ID:
            continue
        new = {k: v for k, v in o.items() if not k.startswith(vocab.PREFIX)}
        if o.get("type") != "marking-definition":
            new.pop("extensions", None)
        if o.get("type") == "indicator":
            new["x_opencti_score"] = int(o.get("confidence", 50))
            new["x_opencti_detection"] = not o.get("revoked", False)
        out.append(new)
    return {**bundle, "objects": out}


def revoke(indicator: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A retraction: the same indicator, a later ``modified``, ``revoked: true``."""
    new = dict(indicator)
    when = now or datetime.now(timezone.utc)
    prev = datetime.fromisoformat(str(indicator["modified"]).replace("Z", "+00:00"))
    if when <= prev:
        when = prev + timedelta(milliseconds=1)
    new["modified"] = ts(when)
    new["revoked"] = True
    return new


def false_positive_opinion(indicator_id: str, org: str, *, tlp: str = "amber", now: datetime | None = None,
                           identity_id: str | None = None, explanation: str = "Matched only accounts our review found legitimate.") -> dict[str, Any]:
    """A member's false-positive report on someone's indicator: opinion strongly-disagree."""
    when = now or datetime.now(timezone.utc)
    org_id = identity_id or org_identity_id(org)
    op = {"type": "opinion", "spec_version": "2.1", "id": f"opinion--{uuid.uuid4()}",
          "created": ts(when), "modified": ts(when), "created_by_ref": org_id,
          "object_marking_refs": [vocab.TLP2_IDS[tlp]], "opinion": "strongly-disagree",
          "object_refs": [indicator_id], "explanation": explanation}
    return _custom(op, category="false-positive")


def wrap(objects: list[dict[str, Any]], org: str, tlp: str = "amber", identity_id: str | None = None) -> dict[str, Any]:
    """A bundle around a few objects (a retraction or an opinion) with identity and marking."""
    now = datetime.now(timezone.utc)
    org_id = identity_id or org_identity_id(org)
    head = [vocab.tlp2_marking(tlp), vocab.distillguard_identity(), vocab.client_extension_definition(),
            {"type": "identity", "spec_version": "2.1", "id": org_id, "created": ts(now), "modified": ts(now),
             "name": org, "identity_class": "organization", "object_marking_refs": [vocab.TLP2_IDS[tlp]]}]
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
            "objects": head + objects}


def parse(bundle: dict[str, Any]) -> Any:
    """Parse back with the OASIS stix2 library (custom x_distillguard_* properties allowed)."""
    return stix2.parse(bundle, allow_custom=True)


def validate(bundle: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, warnings) from the OASIS stix2-validator."""
    from stix2validator import ValidationOptions, validate_instance

    from distillguard.intel import fastvalidate

    fastvalidate.install()
    r = validate_instance(bundle, ValidationOptions(version="2.1"))
    return [str(e) for e in r.errors], [str(w) for w in r.warnings]
