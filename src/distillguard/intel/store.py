"""Local state of pulled intel: latest version of every object, checkpoints, retractions.

STIX versions an object by (id, modified): a retraction is a newer version with
``revoked: true``; a false-positive report is an ``opinion`` pointing at it. The store keeps
the latest version of each object, so the *current* view of an indicator (revoked?
disputed? corroborated by whom?) is a pure function of what was pulled.

Corroboration follows the consortium rules: distinct member organisations (never
accounts) that independently hold the same pattern, as an indicator or a sighting, each
weighted by age (half-life ``half_life_days``); indicators or sightings marked
``x_distillguard_derived_from_hub`` never count, nor do revoked or false-positive ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from distillguard.intel import vocab

OBJECTS_FILE = "objects.json"
CHECKPOINT_FILE = "checkpoints.json"
RETRACTIONS_FILE = "retractions.jsonl"
DISAGREE = frozenset({"disagree", "strongly-disagree"})


def parse_ts(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@dataclass(frozen=True)
class IndicatorView:
    """What a member currently believes about one pulled indicator."""

    id: str
    kind: str
    value: str
    source_org: str
    confidence: int
    category: str
    revoked: bool
    disputed: bool
    derived_from_hub: bool
    valid_until: datetime | None
    corroboration: float
    orgs: tuple[str, ...]


@dataclass
class Delta:
    """What one ingest changed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    retracted: list[str] = field(default_factory=list)
    disputed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "id: reason" for versions from someone else


def pattern_value(pattern: str) -> tuple[str, str] | None:
    """(kind, value) of an x-llm-api-client pattern, None for any other pattern."""
    head = f"[{vocab.CLIENT_SCO_TYPE}:"
    if not pattern.startswith(head) or not pattern.endswith("']"):
        return None
    prop, _, rest = pattern[len(head):].partition(" = '")
    kind = vocab.PROPERTY_KIND.get(prop)
    return (kind, rest[:-2]) if kind else None


class IntelStore:
    """A folder holding pulled objects (latest versions) and pull checkpoints."""

    def __init__(self, folder: str | Path, trusted_keys: dict[str, str] | None = None) -> None:
        """``trusted_keys`` (identity id -> Ed25519 public key, base64): objects claiming one
        of these identities are accepted only with that member's valid signature."""
        self.folder = Path(folder)
        self.trusted_keys = dict(trusted_keys or {})
        self._objects: dict[str, dict[str, Any]] | None = None

    # --- persistence ---------------------------------------------------------------------
    @property
    def objects(self) -> dict[str, dict[str, Any]]:
        if self._objects is None:
            p = self.folder / OBJECTS_FILE
            self._objects = json.loads(p.read_text()) if p.exists() else {}
        return self._objects

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (OBJECTS_FILE + ".tmp")
        tmp.write_text(json.dumps(self.objects))
        tmp.replace(self.folder / OBJECTS_FILE)

    def checkpoint(self, source: str) -> str | None:
        p = self.folder / CHECKPOINT_FILE
        return json.loads(p.read_text()).get(source) if p.exists() else None

    def set_checkpoint(self, source: str, added_after: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        p = self.folder / CHECKPOINT_FILE
        doc = json.loads(p.read_text()) if p.exists() else {}
        doc[source] = added_after
        p.write_text(json.dumps(doc, indent=2))

    # --- ingest --------------------------------------------------------------------------
    def ingest(self, objects: Iterable[dict[str, Any]]) -> Delta:
        """Keep the latest version of each object; report retractions and disputes."""
        delta = Delta()
        for obj in objects:
            oid = obj.get("id")
            if not isinstance(oid, str):
                continue
            if self.trusted_keys:
                from distillguard.intel.signing import claimed_author, verify

                author = claimed_author(obj)
                if author in self.trusted_keys and not verify(obj, self.trusted_keys[author]):
                    delta.refused.append(f"{oid}: claims to be by {author} but lacks that member's valid signature")
                    continue
            old = self.objects.get(oid)
            mod = obj.get("modified", obj.get("created", ""))
            if (old is not None and obj.get("type") == "identity" and old.get("name") != obj.get("name")
                    and oid not in self.trusted_keys):
                # names are pinned at first sight: a "renamed" identity could pass one member off
                # as another (a member whose key is pinned may rename, signed)
                delta.refused.append(f"{oid}: identity name change refused (names are pinned at first sight)")
                continue
            if old is not None and old.get("created_by_ref") != obj.get("created_by_ref"):
                # an id belongs to its first creator: a "new version" (a revocation, say) by
                # anyone else is a forgery, whichever collection or server it came through
                delta.refused.append(f"{oid}: new version by {obj.get('created_by_ref')} of an object "
                                     f"created by {old.get('created_by_ref')}")
                continue
            try:
                newer = old is None or parse_ts(old.get("modified", old.get("created", mod))) < parse_ts(mod)
            except (TypeError, ValueError):
                delta.refused.append(f"{oid}: unreadable modified/created timestamp")
                continue
            if not newer:
                delta.unchanged += 1
                continue
            self.objects[oid] = obj
            if old is None:
                delta.new += 1
            else:
                delta.updated += 1
            if obj.get("type") == "indicator" and obj.get("revoked") and not (old or {}).get("revoked"):
                delta.retracted.append(oid)
            if obj.get("type") == "opinion" and obj.get("opinion") in DISAGREE:
                delta.disputed.extend(r for r in obj.get("object_refs", []) if r.startswith("indicator--"))
        if delta.retracted or delta.disputed or delta.refused:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / RETRACTIONS_FILE).open("a") as f:
                now = datetime.now(timezone.utc).isoformat()
                for why in delta.refused:
                    f.write(json.dumps({"ts": now, "indicator_id": why.split(":", 1)[0], "what": "refused",
                                        "why": why.split(": ", 1)[-1]}) + "\n")
                for i in delta.retracted:
                    f.write(json.dumps({"ts": now, "indicator_id": i, "what": "revoked"}) + "\n")
                for i in delta.disputed:
                    f.write(json.dumps({"ts": now, "indicator_id": i, "what": "disputed"}) + "\n")
        return delta

    # --- views ---------------------------------------------------------------------------
    def org_names(self) -> dict[str, str]:
        return {o["id"]: o.get("name", o["id"]) for o in self.objects.values() if o.get("type") == "identity"}

    def indicators(self, now: datetime | None = None, half_life_days: float = 30.0) -> list[IndicatorView]:
        """Current view of every x-llm-api-client indicator pulled so far."""
        now = now or datetime.now(timezone.utc)
        names = self.org_names()
        objs = list(self.objects.values())
        disputed = {r for o in objs if o.get("type") == "opinion" and o.get("opinion") in DISAGREE
                    for r in o.get("object_refs", [])}
        by_id = {o["id"]: o for o in objs if o.get("type") == "indicator"}
        # pattern -> {org: newest independent evidence time}
        support: dict[str, dict[str, datetime]] = {}

        def add(pattern: str, org: str, when: datetime) -> None:
            cur = support.setdefault(pattern, {})
            if org not in cur or when > cur[org]:
                cur[org] = when

        for o in by_id.values():
            if o.get("revoked") or o.get(vocab.PROP_DERIVED_FROM_HUB) or o.get(vocab.PROP_CATEGORY) == "false-positive":
                continue
            if o["id"] in disputed:
                continue
            add(o.get("pattern", ""), o.get("created_by_ref", ""), parse_ts(o.get("modified", o.get("created"))))
        for o in objs:
            if o.get("type") != "sighting" or o.get("revoked") or o.get(vocab.PROP_DERIVED_FROM_HUB):
                continue
            ind = by_id.get(o.get("sighting_of_ref", ""))
            if ind is not None and not ind.get("revoked"):
                add(ind.get("pattern", ""), o.get("created_by_ref", ""), parse_ts(o.get("modified", o.get("created"))))
        out = []
        for o in by_id.values():
            pv = pattern_value(o.get("pattern", ""))
            if pv is None:
                continue
            sup = support.get(o.get("pattern", ""), {})
            corr = sum(0.5 ** (max(0.0, (now - t).total_seconds()) / 86400 / half_life_days) for t in sup.values())
            vu = o.get("valid_until")
            out.append(IndicatorView(
                id=o["id"], kind=pv[0], value=pv[1],
                source_org=names.get(o.get("created_by_ref", ""), o.get("created_by_ref", "")),
                confidence=int(o.get("confidence", 50)),
                category=str(o.get(vocab.PROP_CATEGORY, "confirmed")),
                revoked=bool(o.get("revoked", False)), disputed=o["id"] in disputed,
                derived_from_hub=bool(o.get(vocab.PROP_DERIVED_FROM_HUB, False)),
                valid_until=parse_ts(vu) if vu else None, corroboration=round(corr, 4),
                orgs=tuple(sorted(names.get(g, g) for g in sup)),
            ))
        return out
