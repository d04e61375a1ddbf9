"""Score a community from its members' evidence and its own shape, and describe it.

Why a gate: sharing infrastructure is normal (a classroom behind one NAT, an agency
paying for ten seats with one card); what is not normal is sharing it *while* the
traffic looks like harvesting. So a community's score starts from its members' own
evidence ``m`` (mean blended with the upper quartile), and its shape — cross-account
templates ``t``, synchronised activity ``s``, cheap identities ``c``, several kinds of
shared infrastructure ``d``, size ``z`` — can only lift it in proportion to a gate that
opens as behavioural evidence (``max(m, t)``) rises:

    shape = 1 − (1 − 0.8t)(1 − 0.5s)(1 − 0.4c)(1 − 0.5d)(1 − 0.3z)
    gate  = clip((max(m, t) − 0.05) / 0.25, 0, 1)
    score = m + (1 − m) · shape · gate

A hydra whose accounts each score 0.3 but share cards, a proxy /24, templates and a
clock lands near 1; thirty students with diverse homework (m ≈ 0.1, t ≈ 0) stay low.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from distillguard.campaigns.graph import INFRA_KINDS, SYNC_KINDS, AccountGraph

SHAPE_WEIGHTS = {"template": 0.8, "sync": 0.5, "cheap": 0.4, "infra": 0.5, "size": 0.3}
GATE_LOW, GATE_HIGH = 0.05, 0.30


def campaign_id(account_ids: list[str]) -> str:
    """Deterministic id: a hash of the sorted member ids."""
    h = hashlib.sha256("\n".join(sorted(account_ids)).encode()).hexdigest()
    return f"cmp-{h[:12]}"


def member_evidence(scores: np.ndarray) -> float:
    if len(scores) == 0:
        return 0.0
    return float(0.5 * scores.mean() + 0.5 * np.quantile(scores, 0.75))


def kind_coverage(graph: AccountGraph, members: np.ndarray) -> dict[str, float]:
    """Per edge kind: share of members tied to another member by that kind."""
    inside = np.zeros(len(graph.accounts), dtype=bool)
    inside[members] = True
    e = inside[graph.src] & inside[graph.dst]
    out: dict[str, float] = {}
    for k, name in enumerate(graph.kind_names):
        sel = e & (graph.kind_weight[:, k] > 0)
        if sel.any():
            out[name] = len(np.unique(np.concatenate([graph.src[sel], graph.dst[sel]]))) / len(members)
    return out


def template_concentration(labels: np.ndarray, account: np.ndarray, raw_hash: np.ndarray, request_ids: list[str],
                           n_members: int) -> tuple[float, int, list[str]]:
    """Share of the members' sampled prompts in templates used by several members, × slot diversity.

    Arguments are the members' rows of the world template sample. A template counts as
    shared when at least max(2, 10% of members) use it. Returns (t, shared templates,
    example request ids).
    """
    ok = labels >= 0
    if len(labels) == 0 or not ok.any():
        return 0.0, 0, []
    pairs = np.unique(np.stack([labels[ok], account[ok]]), axis=1)
    tpl, n_acc = np.unique(pairs[0], return_counts=True)
    shared = tpl[n_acc >= max(2, math.ceil(0.1 * n_members))]
    in_shared = ok & np.isin(labels, shared)
    n_in = int(in_shared.sum())
    if n_in == 0:
        return 0.0, 0, []
    distinct = len(np.unique(raw_hash[in_shared]))
    t = (n_in / len(labels)) * (distinct / n_in)
    examples = [request_ids[i] for i in np.flatnonzero(in_shared)[:5]]
    return float(t), int(len(shared)), examples


@dataclass(frozen=True)
class Shape:
    m: float
    t: float
    s: float
    c: float
    d: float
    z: float

    @property
    def shape(self) -> float:
        w = SHAPE_WEIGHTS
        return 1.0 - ((1 - w["template"] * self.t) * (1 - w["sync"] * self.s) * (1 - w["cheap"] * self.c)
                      * (1 - w["infra"] * self.d) * (1 - w["size"] * self.z))

    @property
    def gate(self) -> float:
        return min(1.0, max(0.0, (max(self.m, self.t) - GATE_LOW) / (GATE_HIGH - GATE_LOW)))

    @property
    def score(self) -> float:
        return min(1.0, self.m + (1.0 - self.m) * self.shape * self.gate)


def shape_of(m: float, t: float, coverage: dict[str, float], cheap: float, size: int) -> Shape:
    s = max([coverage.get(k, 0.0) for k in SYNC_KINDS] + [0.0])
    infra = sum(1 for k in INFRA_KINDS if coverage.get(k, 0.0) >= 0.5)
    return Shape(m=m, t=t, s=s, c=cheap, d=min(1.0, infra / 3.0), z=1.0 - math.exp(-max(0, size - 2) / 20.0))
