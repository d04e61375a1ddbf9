"""Combining signal scores into one calibrated account score, with reasons.

Scoring is *additive evidence through a fixed transform*::

    e_i   = w_i · s_i                       (s_i ∈ [0, 1] from detector i, w_i its weight)
    E_g   = max_{i∈g} e_i + λ · (Σ_{i∈g} e_i − max_{i∈g} e_i)      per evidence group g
    E_b   = e_automation · (λ + (1 − λ) · min(1, E_content))         behaviour corroborates content
    E     = Σ_g E_g + E_b
    score = 1 − exp(−E)

This is a noisy-OR in which a signal of strength ``s`` and weight ``w`` counts as ``w·s``
units of evidence. Signals that measure the same thing (templating, the window test,
automation and volume all react to repetitive scripted traffic) sit in one *group*
and only the strongest counts fully (λ = ``GROUP_DISCOUNT``), so an honest templated
pipeline cannot stack four views of one fact into a flag. The transform is fixed (no per-run ranks or quantiles), so the same
evidence gives the same score in every world, live and in the scan, and in every run, and
``watch``/``flag`` thresholds mean something. With the defaults the largest single
weight is 1.0 → one signal alone reaches at most 0.63, below ``flag = 0.8`` (E ≥ 1.61):
flagging needs at least two independent lines of evidence, or a campaign.

*Behaviour corroborates content.* Automation (scripted, one-shot, raw-client, sleepless
traffic) is not the same fact as templating: it says *how* requests are sent, not what
they contain. Alone it says little (honest pipelines are scripts), so without content
evidence it counts only λ, as one more view of the "shape" of traffic. But a script that
asks for reasoning traces or sweeps broad tasks is exactly what distillation needs and a
person asking the same questions is not, so automation counts fully in proportion to the
content evidence (up to E_content = 1). This separates a CoT harvest from a student who
asks for steps, without letting an automated templated pipeline stack into a flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from distillguard.config import DetectorConfig, Settings
from distillguard.detectors import registry
from distillguard.findings import Reason

def default_weights() -> dict[str, float]:
    """Weight of each registered signal unless ``detectors.<name>.weight`` is set: the
    ``default_weight`` each detector declares (decide/ keeps no table of its own)."""
    return {n: m.weight for n, m in registry.metadata("signals").items()}


def groups() -> dict[str, str]:
    """Evidence groups, as declared by each detector (``group``): *what* is asked (content),
    *how* it is shaped (shape), *who* asks (identity), and *how* it is sent (behaviour:
    counted in proportion to content, see the module docstring). A plugin that declares no
    group is its own group."""
    return {n: m.group for n, m in registry.metadata("signals").items()}


BEHAVIOUR_GROUP = "behaviour"
CORROBORATED_BY = "content"

GROUP_DISCOUNT = 0.25
"""λ: how much the weaker signals of one group add on top of its strongest."""

MIN_REASON = 0.02
"""Evidence (w·s) below this is not listed among an account's reasons."""


def weight_of(name: str, settings: Settings) -> float:
    """The configured weight if the user set one, else the documented default."""
    cfg = settings.detectors.get(name)
    if cfg is not None and "weight" in cfg.model_fields_set:
        return float(cfg.weight)
    return default_weights().get(name, 1.0)


def enabled(name: str, settings: Settings) -> bool:
    return settings.detectors.get(name, DetectorConfig()).enabled


def evidence_to_score(e: float) -> float:
    """The fixed calibration: 1 − exp(−E)."""
    return 1.0 - math.exp(-max(0.0, e))


def score_to_evidence(score: float) -> float:
    """Inverse of :func:`evidence_to_score` (for documentation and thresholds)."""
    return -math.log(max(1e-12, 1.0 - score))


@dataclass
class AccountScore:
    account_id: str
    score: float
    evidence: float
    signals: dict[str, float] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    """Each detector's raw measured value (the findings keep it next to its score)."""
    reasons: list[Reason] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def combine(signals: dict[str, pa.Table], weights: dict[str, float]) -> dict[str, AccountScore]:
    """Fold every detector's SIGNAL_SCHEMA rows into one AccountScore per account.

    Reasons are ordered by contribution (w·s) and carry the detector's own sentence.
    """
    out: dict[str, AccountScore] = {}
    for name, table in signals.items():
        for r in table.to_pylist():
            add_signal(out.setdefault(r["account_id"], AccountScore(r["account_id"], 0.0, 0.0)), name, r,
                       weights.get(name, 1.0))
    group_of, replaced_by = groups(), superseded()
    for acc in out.values():
        finish(acc, weights, group_of, replaced_by)
    return out


def add_signal(acc: AccountScore, name: str, r: dict[str, Any], w: float) -> None:
    """One detector's row for one account (the scan and the guard call this alike)."""
    s = min(1.0, max(0.0, float(r["score"] or 0.0)))
    acc.signals[name] = s
    acc.values[name] = r.get("value")
    if w * s >= MIN_REASON:
        acc.reasons.append(Reason(name, s, w, r.get("detail") or ""))
        if r.get("examples"):
            acc.examples.extend(x for x in r["examples"] if x not in acc.examples)


def finish(acc: AccountScore, weights: dict[str, float], group_of: dict[str, str] | None = None,
           replaced_by: dict[str, str] | None = None) -> AccountScore:
    """Grouped evidence → the fixed calibration; reasons by contribution."""
    acc.evidence = grouped_evidence({n: weights.get(n, 1.0) * s for n, s in acc.signals.items()}, group_of,
                                    replaced_by)
    replaced_by = superseded() if replaced_by is None else replaced_by
    acc.reasons = [r for r in acc.reasons if replaced_by.get(r.signal) not in acc.signals]
    acc.score = evidence_to_score(acc.evidence)
    acc.reasons.sort(key=lambda x: -x.value * x.weight)
    return acc


def superseded() -> dict[str, str]:
    """Signal → the better measurement of the same fact that replaces it when present."""
    return {n: m.superseded_by for n, m in registry.metadata("signals").items() if m.superseded_by}


def grouped_evidence(contrib: dict[str, float], group_of: dict[str, str] | None = None,
                     replaced_by: dict[str, str] | None = None) -> float:
    """E = Σ_g [max_g + λ·(sum_g − max_g)] + E_behaviour (see module docstring).

    A signal whose ``superseded_by`` signal is among the contributions is left out."""
    group_of = groups() if group_of is None else group_of
    replaced_by = superseded() if replaced_by is None else replaced_by
    if replaced_by:
        contrib = {n: e for n, e in contrib.items() if replaced_by.get(n) not in contrib}
    by_group: dict[str, list[float]] = {}
    for name, e in contrib.items():
        by_group.setdefault(group_of.get(name, name), []).append(max(0.0, e))
    per_group: dict[str, float] = {}
    for g, vals in by_group.items():
        top = max(vals)
        per_group[g] = top + GROUP_DISCOUNT * (sum(vals) - top)
    behaviour = per_group.pop(BEHAVIOUR_GROUP, 0.0)
    content = min(1.0, per_group.get(CORROBORATED_BY, 0.0))
    return sum(per_group.values()) + behaviour * (GROUP_DISCOUNT + (1.0 - GROUP_DISCOUNT) * content)


INTEL_SIGNAL = "intel_match"
SINGLE_MEMBER_BELOW = 1.8
"""Corroboration (independent member organisations, age-weighted) under which an intel match
is one member's word (intel.trust.TrustPolicy.min_corroboration)."""


def cap_single_member_intel(acc: AccountScore, settings: Settings, corroborated_from: float = SINGLE_MEMBER_BELOW,
                            weights: dict[str, float] | None = None, group_of: dict[str, str] | None = None) -> None:
    """One member's indicator opens a review; it can never push an account across a threshold.

    A rival's (or a poisoned) indicator alone must not throttle or flag a customer: if the
    account's score without the intel evidence is below ``watch`` or ``flag`` and the
    single-member match is what lifts it over, the score is held just under that threshold.
    Used by the scan and the guard alike (docs/intel.md, docs/service.md).
    """
    s_intel = acc.signals.get(INTEL_SIGNAL, 0.0)
    corr = acc.values.get(INTEL_SIGNAL)
    if s_intel <= 0.0 or (corr is not None and float(corr) >= corroborated_from):
        return
    contrib = {n: (weights[n] if weights and n in weights else weight_of(n, settings)) * s
               for n, s in acc.signals.items() if n != INTEL_SIGNAL}
    without = evidence_to_score(grouped_evidence(contrib, group_of))
    for t in (settings.scoring.watch, settings.scoring.flag):
        if without < t <= acc.score:
            acc.score = max(without, t - 1e-6)
            acc.reasons.append(Reason(INTEL_SIGNAL, s_intel, 0.0,
                                      f"single-member intel held below the {t:.2f} threshold: one member's "
                                      "indicator opens a review and never acts alone"))
            return


def verdict(score: float, settings: Settings) -> str:
    """Scoring is not deciding: thresholds live in settings.scoring."""
    if score >= settings.scoring.flag:
        return "flag"
    if score >= settings.scoring.watch:
        return "watch"
    return "clear"


def inherit_share(cheap: float, template: float, settings: Settings) -> float:
    """How much of a campaign's risk its members inherit: more when its ties are independent
    of what honest organisations share.

    An office behind one NAT on one company card, an agency's verified seats or a classroom
    share infrastructure *because* they are one customer; such a community passes on only
    ``campaign_inherit_floor`` of its score and cannot flag a member by itself. Two things
    an organisation does not explain lift the share to ``campaign_inherit``: members that
    are cheap, disposable identities (``cheap``: share of throwaway-mail or unverified
    accounts used within days of signup), and members sending their traffic from the same
    prompt templates (``template``: the campaign's template concentration, counted from
    10% and fully from 40% — a shared generation script, not colleagues' own questions).
    """
    sc = settings.scoring
    floor = min(1.0, max(0.0, sc.campaign_inherit_floor))
    indep = max(min(1.0, max(0.0, cheap)), min(1.0, max(0.0, (template - 0.1) / 0.3)))
    return sc.campaign_inherit * (floor + (1.0 - floor) * indep)


def tie_factor(strong_tie: bool, settings: Settings) -> float:
    """A member tied to its campaign only by where it connects from or which client it runs
    (no shared card, mail scheme or signup burst with a sibling) inherits at most
    ``campaign_inherit_floor`` of the share: residential proxies live in the same ISP blocks
    as real customers, so such a member can be flagged through its campaign only when the
    campaign is overwhelming, or with evidence of its own."""
    return 1.0 if strong_tie else min(1.0, max(0.0, settings.scoring.campaign_inherit_floor))


def inherit(acc: AccountScore, campaign_id: str, campaign_score: float, share: float, size: int) -> None:
    """Raise an account to ``share × campaign_score`` when its campaign is riskier than it is.

    "Each account clean alone, guilty together": the campaign's score comes from all its
    members' evidence and its shape, and members inherit it.
    """
    inherited = share * campaign_score
    if inherited > acc.score:
        acc.reasons.insert(0, Reason("campaign", campaign_score, share,
                                     f"member of campaign {campaign_id} ({size} accounts, campaign score "
                                     f"{campaign_score:.2f}); own evidence alone scores {acc.score:.2f}"))
        acc.score = inherited
