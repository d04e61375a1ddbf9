"""The one detection engine, event by event: learn_one → score_one, used by serve, replay and scan.

Why one engine: a provider wants a harvest stopped while it happens, and an analyst wants
the same evidence whether it was seen live or in last night's scan. So the guard does not
keep a hand-tuned copy of the detectors: it feeds each request into the account's
:class:`~distillguard.features.stream.AccountAggregate` (the streaming form of the batch
features), runs every *live* detector's own ``score_features`` on it, and combines them
with decide/scoring.py's fixed transform and thresholds, exactly as ``scan`` does. The
scan uses this engine too, to find the exact event at which each flagged account first
crossed the flag threshold (``first_flag_ts``).

Population context is learned from the traffic itself: the accounts feed (who shares a
card; identity facts for linking, engine/links.py) and the flagged accounts seen so far
(their campaigns). Signals that need the whole window's population at once (template
clusters across the world, the benign-calibrated window test, corpus sketches) are batch
signals: their detectors declare ``live = False`` and the batch scan adds them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from distillguard.campaigns.score import Shape, member_evidence, shape_of
from distillguard.config import Settings
from distillguard.decide import scoring as dc
from distillguard.detectors import registry
from distillguard.detectors.base import Detector
from distillguard.detectors.metadata import email_cue
from distillguard.engine.links import LinkIndex, Tie, client_fact, profile_facts
from distillguard.features.stream import AccountAggregate, RequestFeatures, hash64, request_features
from distillguard.findings import Reason

POOL_MAX = 2_000_000
"""Keys the flagged-content pool holds (8-byte keys; oldest dropped first)."""
CLUSTER_MIN = 3
"""Accounts a cluster needs before its pooled traffic is scored."""
CLUSTER_MIN_EVENTS = 30
CHEAP_DAYS = 7.0
"""An account used within this many days of sign-up, unverified or on a throwaway address, is a cheap identity."""
MEDIAN_MIN_ACCOUNTS = 50
"""Accounts scored before the population's median score is trusted to open a campaign's gate."""


@dataclass(frozen=True)
class IntelEvidence:
    """A consortium match for one account (distillguard intel match), as the trust policy scored it."""

    score: float
    corroboration: float
    detail: str


@dataclass
class LiveScore:
    account_id: str
    score: float
    own_score: float
    verdict: str
    n: int
    signals: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    campaign_id: str | None = None
    tie: Tie | None = None
    flagged_now: bool = False
    """True on the event at which this account first crossed ``flag`` on its own evidence."""

    def reason_lines(self, top: int = 4) -> list[str]:
        return [f"{r.signal} {r.value:.2f}: {r.detail}" for r in self.reasons[:top]]


class LiveEngine:
    """Per-account aggregates are the caller's (the guard persists and evicts them); the
    population context (profiles, cards, links, flagged campaigns) is the engine's."""

    def __init__(self, settings: Settings | None = None, detectors: dict[str, Detector] | None = None,
                 intel: dict[str, IntelEvidence] | None = None) -> None:
        self.settings = settings or Settings()
        if detectors is None:
            params = {n: dict(c.params) for n, c in self.settings.detectors.items()}
            detectors = {n: d for n, d in registry.live_detectors(params).items() if dc.enabled(n, self.settings)}
        self.detectors = detectors
        self.weights = {n: dc.weight_of(n, self.settings) for n in (*detectors, dc.INTEL_SIGNAL)}
        self.group_of = dc.groups()
        self.replaced_by = dc.superseded()
        self.profiles: dict[str, dict[str, Any]] = {}
        self.cards: Counter[str] = Counter()
        self.links = LinkIndex(popular_at=self.settings.campaigns.live_popular_at)
        self.flagged: dict[str, str] = {}
        self.confirmed: set[str] = set()
        """Campaign ids an analyst confirmed (feedback): their new members are blocked, not challenged."""
        self.intel = intel or {}
        self.cluster_aggs: dict[str, AccountAggregate] = {}
        """Pooled traffic of accounts one operator holds (engine/links.py clusters): each clean
        alone, a harvester together."""
        self.pool: dict[int, list[Any]] = {}
        """Flagged-content pool: segment key (features.text.pool_segments, hashed) → [flagged owner, times sent]."""
        self.latest: dict[str, int] = {}
        """Each account's latest own score, in hundredths: member evidence of its cluster."""
        self._bins = [0] * 101
        """How many accounts' latest own score falls in each hundredth: the population median."""
        self.cheap: dict[str, bool] = {}
        """Whether each scored account is a cheap identity (``cheapness``), fixed at its first request."""

    # ------------------------------------------------------------------ learning
    def learn_account(self, profile: dict[str, Any]) -> None:
        """An accounts-feed record (sign-up or profile change), as in the accounts table."""
        aid = str(profile["account_id"])
        old = self.profiles.get(aid)
        if old and old.get("payment_fingerprint"):
            self.cards[old["payment_fingerprint"]] -= 1
        self.profiles[aid] = dict(profile)
        self.cheap.pop(aid, None)
        if profile.get("payment_fingerprint"):
            self.cards[profile["payment_fingerprint"]] += 1
        for kept, absorbed in self.links.add(aid, profile_facts(profile)):
            gone = self.cluster_aggs.pop(absorbed, None)
            if gone is not None:
                self.cluster_aggs.setdefault(kept, AccountAggregate(kept)).merge(gone)

    def observe(self, agg: AccountAggregate, ev: dict[str, Any] | RequestFeatures) -> RequestFeatures:
        """learn_one: fold one request into its account's aggregate."""
        f = ev if isinstance(ev, RequestFeatures) else request_features(ev)
        if f.user_agent is not None and f.user_agent != agg.last_ua:
            fact = client_fact(f.user_agent)
            if fact:
                self.links.add(agg.account_id, [fact])
        agg.update(f)
        root = self.links.cluster_of(agg.account_id)
        if len(self.links.members.get(root, ())) >= 2:
            ca = self.cluster_aggs.get(root)
            if ca is None:
                ca = self.cluster_aggs[root] = AccountAggregate(root)
            ca.update(f)
        if f.pkeys and self.pool:
            aid = agg.account_id
            hit = False
            for k in f.pkeys:
                entry = self.pool.get(k)
                if entry is not None and entry[0] != aid and entry[1] == 1:
                    hit = True
            agg.pool_hits += hit
        if f.pkeys and agg.account_id in self.flagged:
            for k in f.pkeys:
                self._pool_add(k, agg.account_id)
        return f

    def _pool_add(self, key: int, owner: str) -> None:
        """A segment a flagged account sent once is a dataset item; sent again, it is its template."""
        entry = self.pool.get(key)
        if entry is not None:
            entry[1] += 1
            return
        if len(self.pool) >= POOL_MAX:
            self.pool.pop(next(iter(self.pool)))
        self.pool[key] = [owner, 1]

    # ------------------------------------------------------------------- scoring
    def score(self, agg: AccountAggregate, explain: bool = True) -> LiveScore:
        """score_one: every live detector on the account's aggregate, combined as in the scan.

        ``explain=False`` skips the evidence sentences (the hot path: scores are identical)."""
        aid = agg.account_id
        prof = self.profiles.get(aid)
        fp = prof.get("payment_fingerprint") if prof else None
        row = agg.row(prof, self.cards.get(fp, 0) if fp else 0)
        acc = dc.AccountScore(aid, 0.0, 0.0)
        for name, det in self.detectors.items():
            dc.add_signal(acc, name, det.score_features(row, explain), self.weights[name])
        hit = self.intel.get(aid)
        if hit is not None:
            dc.add_signal(acc, dc.INTEL_SIGNAL, {"score": hit.score, "value": hit.corroboration, "detail": hit.detail},
                          self.weights[dc.INTEL_SIGNAL])
        dc.finish(acc, self.weights, self.group_of, self.replaced_by)
        dc.cap_single_member_intel(acc, self.settings, weights=self.weights, group_of=self.group_of)
        own = acc.score
        self._remember(aid, own)
        if aid not in self.cheap:
            self.cheap[aid] = self.cheapness(prof, row) >= 1.0
        out = LiveScore(aid, own, own, dc.verdict(own, self.settings), agg.n, acc.signals, acc.values, acc.reasons)
        if out.verdict == "flag":
            out.flagged_now = aid not in self.flagged
            if out.flagged_now:
                self.flagged[aid] = self.links.flag(aid, own)
                for k in agg.recent_keys:
                    self._pool_add(k, aid)
            out.campaign_id = self.flagged[aid]
            return out
        tie = self.links.tie(aid) or self._cluster_tie(aid, prof, row)
        if tie is not None:
            share = dc.inherit_share(self.cheapness(prof, row), 0.0, self.settings) * dc.tie_factor(tie.strong, self.settings)
            before = acc.score
            dc.inherit(acc, tie.campaign_id, tie.score, share, tie.members)
            if acc.score > before:
                acc.reasons[0] = Reason("campaign", tie.score, share, tie.reason() + f"; own evidence alone scores {own:.2f}")
            out.score, out.reasons, out.tie, out.campaign_id = acc.score, acc.reasons, tie, tie.campaign_id
            out.verdict = dc.verdict(acc.score, self.settings)
        return out

    def _remember(self, aid: str, score: float) -> None:
        b = min(100, max(0, int(score * 100)))
        old = self.latest.get(aid)
        if old != b:
            if old is not None:
                self._bins[old] -= 1
            self._bins[b] += 1
            self.latest[aid] = b

    def median_score(self) -> float | None:
        """The median of every account's latest own score (the batch's ``μ``), once enough are scored."""
        n = len(self.latest)
        if n < MEDIAN_MIN_ACCOUNTS:
            return None
        seen = 0
        for b, c in enumerate(self._bins):
            seen += c
            if 2 * seen >= n:
                return b / 100
        return 1.0

    def _cluster_tie(self, aid: str, prof: dict[str, Any] | None, row: dict[str, Any]) -> Tie | None:
        """A cheap identity of an operator (one card or mailbox alias scheme, engine/links.py) whose
        accounts together score ``flag``: their pooled traffic read as one account's, or the group
        scored as the batch scores a campaign (campaigns/score.py) from its members' own evidence."""
        root = self.links.cluster_of(aid)
        members = self.links.members.get(root, ())
        ca = self.cluster_aggs.get(root)
        if len(members) < CLUSTER_MIN or ca is None or ca.n < CLUSTER_MIN_EVENTS or self.cheapness(prof, row) < 1.0:
            return None
        acc = dc.AccountScore(root, 0.0, 0.0)
        crow = ca.row(prof, self.cards.get(prof.get("payment_fingerprint"), 0) if prof else 0)
        for name, det in self.detectors.items():
            dc.add_signal(acc, name, det.score_features(crow, False), self.weights[name])
        dc.finish(acc, self.weights, self.group_of, self.replaced_by)
        # Flag level, as for one account: pooled at watch level, an office's or a class's cheap,
        # new seats on one company card were challenged (11 of 545 benign accounts in the demo).
        if dc.verdict(acc.score, self.settings) == "flag":
            return Tie(f"live-c{hash64(root):012x}"[:18], acc.score, len(members), ("cluster",), True,
                       f"one of {len(members)} cheap accounts on one card or numbered mail scheme whose pooled "
                       f"{ca.n:,} requests score {acc.score:.2f} ({', '.join(r.signal for r in acc.reasons[:3])})")
        shape = self._campaign_shape(members)
        if shape is None or dc.verdict(shape.score, self.settings) != "flag":
            return None
        return Tie(f"live-c{hash64(root):012x}"[:18], shape.score, len(members), ("cluster",), True,
                   f"one of {len(members)} accounts on one card or numbered mail scheme, "
                   f"{shape.c:.0%} of them cheap identities, scored as a campaign {shape.score:.2f} "
                   f"(members' own evidence {shape.m:.2f}, population median {shape.mu:.2f})")

    def _campaign_shape(self, members: Any) -> Shape | None:
        """The batch campaign score (campaigns/score.py) of an identity cluster, from what the
        engine knows live: every member is tied by identity (that is what made the cluster);
        network, client, synchronisation and template concentration are batch evidence and count 0
        here (the live score leaves out what only the scan can see)."""
        mu = self.median_score()
        scores = [self.latest[m] / 100 for m in members if m in self.latest]
        if mu is None or len(scores) < CLUSTER_MIN:
            return None
        cheap = sum(self.cheap.get(m, False) for m in members) / len(members)
        return shape_of(member_evidence(np.asarray(scores)), 0.0, {"payment": 1.0}, cheap, len(members),
                        mu=mu, watch=self.settings.scoring.watch)

    @staticmethod
    def cheapness(prof: dict[str, Any] | None, row: dict[str, Any]) -> float:
        """1 for a throwaway identity (disposable mail, or unverified and used within days of sign-up)."""
        if not prof:
            return 0.0
        if email_cue(prof.get("email"))[0] >= 0.8:
            return 1.0
        created, first = prof.get("created_at"), row.get("first_ts")
        young = isinstance(created, datetime) and isinstance(first, datetime) and \
            (first - created).total_seconds() < CHEAP_DAYS * 86400
        return 1.0 if (prof.get("verified") is False and young) else 0.0

    def confirm(self, account_id: str) -> None:
        """Analyst feedback: the account's live campaign is confirmed (its new members are blocked)."""
        cid = self.flagged.get(account_id)
        if cid:
            self.confirmed.add(cid)

    def forget(self, account_id: str) -> None:
        """Analyst feedback: a false positive no longer anchors a campaign."""
        cid = self.flagged.pop(account_id, None)
        if cid is not None:
            self.links.campaigns.get(cid, {}).pop(account_id, None)


__all__ = ["IntelEvidence", "LiveEngine", "LiveScore"]
