"""Turn members' opinions into consortium state: corroboration, disputes, retractions, metrics.

Pure functions over stored object versions, so they are easy to test and the same for
SQLite and PostgreSQL. The rules (issue 4, "opinions, not verdicts"):

* The corroboration key is the indicator ``pattern`` (deterministic keyed hashes make two
  members' sightings of the same card/IP/email produce the same string).
* Corroboration counts **distinct member organisations** (``created_by_ref``), never
  accounts or indicators; each organisation counts once with weight
  ``0.5 ** (age_days / half_life_days)`` of its freshest live indicator.
* Indicators flagged ``x_distillguard_derived_from_hub`` (a detection caused by a hub
  signal) never count: re-reporting what is already listed is not independent evidence.
* A ``disagree``/``strongly-disagree`` opinion, or an indicator of category
  ``false-positive``, from any member marks the pattern disputed.
* ``revoked: true`` in the latest version is a retraction; ``valid_until`` in the past is
  expiry. Retracted, expired, false-positive and derived indicators never corroborate.
* Only ``corroborated`` patterns are ``actionable`` (may drive throttling at members):
  one member alone can never get a customer blocked anywhere.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from distillguard.hub.storage import StoredObject, parse_ts
from distillguard.intel import vocab

_PATTERN_PROP = re.compile(r"^\[\s*[a-z0-9-]+:([a-z_]+)\s*=")
DISAGREE = frozenset({"disagree", "strongly-disagree"})


@dataclass(frozen=True)
class IndicatorState:
    """The latest version of one member's indicator, with what the hub knows about it."""

    id: str
    pattern: str
    kind: str
    org: str
    member: str
    category: str
    derived_from_hub: bool
    revoked: bool
    expired: bool
    confidence: int | None
    modified: datetime
    first_added: str
    retracted_added: str | None


@dataclass
class PatternAggregate:
    """Consortium view of one corroboration key (an indicator pattern)."""

    pattern: str
    kind: str
    indicator_ids: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    derived_orgs: list[str] = field(default_factory=list)
    disputed_by: list[str] = field(default_factory=list)
    corroboration: float = 0.0
    revoked: bool = False
    expired: bool = False
    disputed: bool = False
    status: str = "single-source"
    actionable: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["corroboration"] = round(self.corroboration, 4)
        return d


def latest_versions(objects: Iterable[StoredObject]) -> dict[str, list[StoredObject]]:
    """All versions per object id, oldest version first."""
    by_id: dict[str, list[StoredObject]] = defaultdict(list)
    for o in objects:
        by_id[o.id].append(o)
    for versions in by_id.values():
        versions.sort(key=lambda o: (o.version, o.seq))
    return by_id


def indicator_kind(obj: dict[str, Any]) -> str:
    """The indicator kind (email, payment, ...) from our property, else from the pattern."""
    kind = obj.get(vocab.PROP_KIND)
    if isinstance(kind, str):
        return kind
    m = _PATTERN_PROP.match(str(obj.get("pattern", "")))
    return vocab.PROPERTY_KIND.get(m.group(1), m.group(1)) if m else "other"


def _flag(obj: dict[str, Any], prop: str) -> Any:
    """A distillguard property at top level or inside any extension block."""
    if prop in obj:
        return obj[prop]
    for ext in (obj.get("extensions") or {}).values():
        if isinstance(ext, dict) and prop in ext:
            return ext[prop]
        if isinstance(ext, dict) and prop.removeprefix(vocab.PREFIX) in ext:
            return ext[prop.removeprefix(vocab.PREFIX)]
    return None


def is_derived_from_hub(obj: dict[str, Any]) -> bool:
    return _flag(obj, vocab.PROP_DERIVED_FROM_HUB) is True


def _ts(value: Any, default: datetime) -> datetime:
    try:
        return parse_ts(value) if isinstance(value, str) else default
    except ValueError:
        return default


def indicator_states(objects: Iterable[StoredObject], now: datetime) -> list[IndicatorState]:
    """The current state of every indicator (its latest version)."""
    out = []
    for versions in latest_versions(o for o in objects if o.type == "indicator").values():
        last = versions[-1].body
        retracted = next((v.date_added for v in versions if v.body.get("revoked") is True), None)
        valid_until = _ts(last.get("valid_until"), datetime.max.replace(tzinfo=timezone.utc))
        conf = last.get("confidence")
        out.append(IndicatorState(
            id=versions[-1].id,
            pattern=str(last.get("pattern", "")),
            kind=indicator_kind(last),
            org=str(last.get("created_by_ref", "")),
            member=versions[0].member,
            category=str(_flag(last, vocab.PROP_CATEGORY) or "confirmed"),
            derived_from_hub=is_derived_from_hub(last),
            revoked=last.get("revoked") is True,
            expired=valid_until <= now,
            confidence=conf if isinstance(conf, int) else None,
            modified=_ts(last.get("modified") or last.get("created"), now),
            first_added=min(v.date_added for v in versions),
            retracted_added=retracted,
        ))
    return out


def disputes(objects: Iterable[StoredObject]) -> dict[str, set[str]]:
    """Indicator id -> organisations whose live opinion disagrees with it."""
    out: dict[str, set[str]] = defaultdict(set)
    for versions in latest_versions(o for o in objects if o.type == "opinion").values():
        op = versions[-1].body
        if op.get("revoked") is True or op.get("opinion") not in DISAGREE:
            continue
        for ref in op.get("object_refs") or []:
            out[ref].add(str(op.get("created_by_ref", "")))
    return out


def aggregate(objects: list[StoredObject], *, now: datetime | None = None, half_life_days: float = 30.0,
              threshold: float = 1.5) -> dict[str, PatternAggregate]:
    """Per-pattern consortium state (see the module docstring for the rules)."""
    now = now or datetime.now(timezone.utc)
    states = indicator_states(objects, now)
    disputed_ids = disputes(objects)
    by_pattern: dict[str, PatternAggregate] = {}
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    states_by_pattern: dict[str, list[IndicatorState]] = defaultdict(list)
    for s in states:
        states_by_pattern[s.pattern].append(s)
        agg = by_pattern.setdefault(s.pattern, PatternAggregate(pattern=s.pattern, kind=s.kind))
        agg.indicator_ids.append(s.id)
        for org in disputed_ids.get(s.id, ()):
            if org not in agg.disputed_by:
                agg.disputed_by.append(org)
        if s.category == "false-positive" and not s.revoked and s.org not in agg.disputed_by:
            agg.disputed_by.append(s.org)
        live = not (s.revoked or s.expired or s.category == "false-positive")
        if live and s.derived_from_hub:
            if s.org not in agg.derived_orgs:
                agg.derived_orgs.append(s.org)
        elif live:
            age_days = max(0.0, (now - s.modified).total_seconds() / 86400.0)
            w = 0.5 ** (age_days / half_life_days)
            weights[s.pattern][s.org] = max(weights[s.pattern].get(s.org, 0.0), w)
    for pattern, agg in by_pattern.items():
        members = states_by_pattern[pattern]
        counted = weights.get(pattern, {})
        agg.orgs = sorted(counted)
        agg.derived_orgs = sorted(o for o in agg.derived_orgs if o not in counted)
        agg.corroboration = sum(counted.values())
        agg.revoked = all(s.revoked for s in members)
        agg.expired = not agg.revoked and all(s.expired or s.revoked for s in members)
        agg.disputed = bool(agg.disputed_by)
        if agg.revoked:
            agg.status = "retracted"
        elif agg.expired:
            agg.status = "expired"
        elif agg.disputed:
            agg.status = "disputed"
        elif len(counted) >= 2 and agg.corroboration >= threshold:
            agg.status = "corroborated"
        else:
            agg.status = "single-source"
        agg.actionable = agg.status == "corroborated"
    return by_pattern


def outcome_metrics(objects: list[StoredObject], *, now: datetime | None = None, half_life_days: float = 30.0,
                    threshold: float = 1.5) -> dict[str, Any]:
    """Outcome metrics per member and indicator kind: how often a member's signals held up.

    ``corroborated`` and ``disputed`` count a member's indicators whose pattern ended up in
    that state; ``retracted`` its revocations and ``hours_to_retract`` how long (hub clock,
    first accepted → revocation accepted) they took.
    """
    now = now or datetime.now(timezone.utc)
    states = indicator_states(objects, now)
    aggs = aggregate(objects, now=now, half_life_days=half_life_days, threshold=threshold)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    hours: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for s in states:
        key = (s.member, s.org, s.kind)
        row = rows.setdefault(key, {"member": s.member, "identity": s.org, "kind": s.kind, "indicators": 0,
                                    "confirmed": 0, "investigation_seeds": 0, "false_positive_reports": 0,
                                    "derived_from_hub": 0, "corroborated": 0, "disputed": 0, "retracted": 0,
                                    "expired": 0})
        row["indicators"] += 1
        row[{"confirmed": "confirmed", "investigation-seed": "investigation_seeds",
             "false-positive": "false_positive_reports"}.get(s.category, "confirmed")] += 1
        row["derived_from_hub"] += int(s.derived_from_hub)
        agg = aggs[s.pattern]
        row["corroborated"] += int(agg.status == "corroborated")
        row["disputed"] += int(agg.disputed and s.category != "false-positive")
        row["retracted"] += int(s.revoked)
        row["expired"] += int(s.expired and not s.revoked)
        if s.retracted_added:
            hours[key].append((parse_ts(s.retracted_added) - parse_ts(s.first_added)).total_seconds() / 3600.0)
    for key, row in rows.items():
        h = hours.get(key, [])
        row["median_hours_to_retract"] = round(statistics.median(h), 3) if h else None
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for agg in aggs.values():
        by_kind[agg.kind][agg.status] += 1
        by_kind[agg.kind]["patterns"] += 1
    return {
        "generated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "half_life_days": half_life_days,
        "corroboration_threshold": threshold,
        "by_member": sorted(rows.values(), key=lambda r: (r["member"], r["kind"])),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
    }
