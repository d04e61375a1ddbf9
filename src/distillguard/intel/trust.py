"""Opinions, not verdicts: what a match is allowed to do locally.

The lesson of shared blocklists (GIFCT, Lantern, CrowdSec, AbuseIPDB) is that one wrong or
malicious report must not get innocent customers blocked everywhere. So, per account:

* revoked, disputed, false-positive, expired or allow-listed indicators do nothing (the
  decision says they were retracted, so whoever acted on them can undo it);
* a single member's signal never acts alone: it raises the score and opens a review;
* only corroborated signals (independent organisations >= ``min_corroboration``,
  age-weighted, hub-derived reports excluded) may drive throttling;
* shared infrastructure (IPs, subnets, client strings) alone never throttles, however
  corroborated: proxies and NATs are shared by innocent customers too;
* nothing here ever blocks; and in shadow mode nothing is enforced at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from distillguard.intel.vocab import INFRASTRUCTURE_KINDS

ACTIONS = ("none", "watch", "review", "throttle")

DECISIONS_SCHEMA = pa.schema([
    pa.field("account_id", pa.string(), nullable=False),
    pa.field("action", pa.string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("enforced", pa.bool_(), nullable=False),
    pa.field("corroboration", pa.float64()),
    pa.field("retracted", pa.bool_()),
    pa.field("indicators", pa.list_(pa.string())),
    pa.field("reason", pa.string()),
])


@dataclass(frozen=True)
class TrustPolicy:
    """The member's own decision policy on intel matches (intel.trust in the config)."""

    shadow: bool = False
    min_corroboration: float = 1.8
    allow_accounts: frozenset[str] = field(default_factory=frozenset)
    allow_indicators: frozenset[str] = field(default_factory=frozenset)
    single_score: float = 0.55
    corroborated_score: float = 0.85
    infrastructure_score: float = 0.25

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrustPolicy":
        d = dict(d or {})
        for k in ("allow_accounts", "allow_indicators"):
            if k in d:
                d[k] = frozenset(d[k])
        return cls(**d)


def _valid(m: dict[str, Any], pol: TrustPolicy, now: datetime) -> str | None:
    """Why a match must be ignored, or None if it may count."""
    if m["revoked"]:
        return "retracted by its author"
    if m["disputed"]:
        return "disputed as a false positive"
    if m["category"] == "false-positive":
        return "reported as a false positive"
    if m["valid_until"] is not None and m["valid_until"] < now:
        return "expired"
    if m["indicator_id"] in pol.allow_indicators:
        return "indicator allow-listed locally"
    return None


def decide(matches: pa.Table, policy: TrustPolicy | None = None, now: datetime | None = None) -> pa.Table:
    """One decision per matched account (DECISIONS_SCHEMA)."""
    pol = policy or TrustPolicy()
    now = now or datetime.now(timezone.utc)
    by_acc: dict[str, list[dict[str, Any]]] = {}
    for m in matches.to_pylist():
        by_acc.setdefault(m["account_id"], []).append(m)
    rows = []
    for acc, ms in sorted(by_acc.items()):
        ignored = [(m, _valid(m, pol, now)) for m in ms]
        live = [m for m, why in ignored if why is None]
        retracted = any(why in ("retracted by its author", "disputed as a false positive", "reported as a false positive")
                        for _, why in ignored)
        ids = sorted({m["indicator_id"] for m in live})
        if acc in pol.allow_accounts:
            rows.append({"account_id": acc, "action": "none", "score": 0.0, "enforced": False, "corroboration": 0.0,
                         "retracted": retracted, "indicators": ids, "reason": "account allow-listed locally"})
            continue
        if not live:
            whys = sorted({why for _, why in ignored if why})
            rows.append({"account_id": acc, "action": "none", "score": 0.0, "enforced": False, "corroboration": 0.0,
                         "retracted": retracted, "indicators": [],
                         "reason": "matched indicators no longer count: " + ", ".join(whys)})
            continue
        strong = [m for m in live if m["kind"] not in INFRASTRUCTURE_KINDS]
        corr = max((m["corroboration"] or 0.0) for m in (strong or live))
        conf = max((m["confidence"] or 0) for m in (strong or live)) / 100.0
        if strong and corr >= pol.min_corroboration:
            action, base = "throttle", pol.corroborated_score
            reason = f"{len(strong)} artefact match(es) corroborated by {corr:.1f} independent members"
        elif strong:
            action, base = "review", pol.single_score
            reason = f"{len(strong)} artefact match(es) reported by a single member: review, never act alone"
        else:
            action, base = "watch", pol.infrastructure_score
            reason = "only shared infrastructure (IP/subnet/client) matches: never acts on its own"
        score = round(base * (0.6 + 0.4 * conf), 4)
        rows.append({"account_id": acc, "action": action, "score": score, "enforced": not pol.shadow,
                     "corroboration": corr, "retracted": retracted, "indicators": ids,
                     "reason": reason + (" (shadow mode: not enforced)" if pol.shadow else "")})
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)
