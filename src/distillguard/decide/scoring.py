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
evidence gives the same score in every world, every replay prefix and every run, and
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

import pyarrow as pa

from distillguard.config import DetectorConfig, Settings
from distillguard.findings import Reason

DEFAULT_WEIGHTS: dict[str, float] = {
    "templating": 1.0,
    "reasoning": 1.0,
    "known_corpus": 0.9,
    "coverage": 0.9,
    "window_test": 0.4,  # content distance also finds every narrow honest pipeline or benchmark run
    "automation": 0.6,
    "volume": 0.6,
    "metadata": 0.4,
}
"""Weight of each built-in signal unless ``detectors.<name>.weight`` is set (plugins: 1.0)."""

GROUPS: dict[str, str] = {
    "reasoning": "content", "coverage": "content", "known_corpus": "content",
    "templating": "shape", "window_test": "shape", "automation": "behaviour", "volume": "shape",
    "metadata": "identity",
}
"""Evidence groups: *what* is asked (content), *how* it is shaped (shape), *who* asks (identity),
and *how* it is sent (behaviour: counted in proportion to content, see the module docstring).
A plugin detector is its own group unless listed here."""

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
    return DEFAULT_WEIGHTS.get(name, 1.0)


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
    reasons: list[Reason] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def combine(signals: dict[str, pa.Table], weights: dict[str, float]) -> dict[str, AccountScore]:
    """Fold every detector's SIGNAL_SCHEMA rows into one AccountScore per account.

    Reasons are ordered by contribution (w·s) and carry the detector's own sentence.
    """
    out: dict[str, AccountScore] = {}
    for name, table in signals.items():
        w = weights.get(name, 1.0)
        for r in table.to_pylist():
            acc = out.setdefault(r["account_id"], AccountScore(r["account_id"], 0.0, 0.0))
            s = float(r["score"])
            acc.signals[name] = s
            acc.evidence += w * s
            if w * s >= MIN_REASON:
                acc.reasons.append(Reason(name, s, w, r["detail"] or ""))
                if r["examples"]:
                    acc.examples.extend(x for x in r["examples"] if x not in acc.examples)
    for acc in out.values():
        acc.evidence = grouped_evidence({n: weights.get(n, 1.0) * s for n, s in acc.signals.items()})
        acc.score = evidence_to_score(acc.evidence)
        acc.reasons.sort(key=lambda x: -x.value * x.weight)
    return out


def grouped_evidence(contrib: dict[str, float]) -> float:
    """E = Σ_g [max_g + λ·(sum_g − max_g)] + E_behaviour (see module docstring)."""
    groups: dict[str, list[float]] = {}
    for name, e in contrib.items():
        groups.setdefault(GROUPS.get(name, name), []).append(max(0.0, e))
    per_group: dict[str, float] = {}
    for g, vals in groups.items():
        top = max(vals)
        per_group[g] = top + GROUP_DISCOUNT * (sum(vals) - top)
    behaviour = per_group.pop(BEHAVIOUR_GROUP, 0.0)
    content = min(1.0, per_group.get(CORROBORATED_BY, 0.0))
    return sum(per_group.values()) + behaviour * (GROUP_DISCOUNT + (1.0 - GROUP_DISCOUNT) * content)


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
