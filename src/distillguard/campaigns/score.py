"""Score a community from its members' evidence and its own shape, and describe it.

Why a gate: sharing infrastructure is normal (a classroom behind one NAT, an agency
paying for ten seats with one card); what is not normal is sharing it *while* the
traffic looks like harvesting. So a community's score starts from its members' own
evidence ``m`` (mean blended with the upper quartile), and its shape can only lift it in
proportion to a gate that opens as behavioural evidence ``b = max(m, t)`` rises from the
world's median account score ``μ`` to the watch threshold:

    shape = 1 − (1 − 0.85·I·(0.3 + 0.7c))(1 − 0.3·N)(1 − 0.25·U)(1 − 0.7·t)(1 − 0.4·s)(1 − 0.4·c)(1 − 0.2·z)
    gate  = clip((b − μ) / (watch − μ), 0, 1)
    score = m + (1 − m) · shape · gate

with I the share of members tied by a cheap-identity attribute (card, email pattern,
disposable domain, signup burst; counted fully only for cheap identities, since an
agency's verified seats on one card are a customer), U by a rare client string
(scraper tooling; popular SDKs and browsers weigh nothing by rarity), N by the network (IP, subnet, signup subnet), t the
template concentration, s synchronised activity, c cheap identities (disposable email,
or unverified and used within two days of signup) and z a size term. Relative gating
keeps the formula meaningful whatever the scale of the account scores. A hydra whose
accounts share cards, email patterns and templates lands near 1; thirty students behind
one NAT with ordinary scores stay low.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from distillguard.campaigns.graph import IDENTITY_KINDS, NETWORK_KINDS, SYNC_KINDS, AccountGraph

SHAPE_WEIGHTS = {"identity": 0.85, "network": 0.3, "client": 0.25, "template": 0.7, "sync": 0.4, "cheap": 0.4,
                 "size": 0.2}

def campaign_id(account_ids: list[str]) -> str:
    """Deterministic id: a hash of the sorted member ids."""
    h = hashlib.sha256("\n".join(sorted(account_ids)).encode()).hexdigest()
    return f"cmp-{h[:12]}"


def member_evidence(scores: np.ndarray) -> float:
    if len(scores) == 0:
        return 0.0
    return float(0.5 * scores.mean() + 0.5 * np.quantile(scores, 0.75))


def kind_coverage(graph: AccountGraph, edges: np.ndarray, n_members: int) -> dict[str, float]:
    """Per edge kind: share of members tied to another member by that kind.

    ``edges`` are the indexes of the graph's edges with both ends in the group.
    """
    out: dict[str, float] = {}
    if len(edges) == 0:
        return out
    kw = graph.kind_weight[edges]
    src, dst = graph.src[edges], graph.dst[edges]
    for k, name in enumerate(graph.kind_names):
        sel = kw[:, k] > 0
        if sel.any():
            out[name] = len(np.unique(np.concatenate([src[sel], dst[sel]]))) / n_members
    return out


def template_concentration(labels: np.ndarray, account: np.ndarray, raw_hash: np.ndarray, request_ids: pa.Array,
                           n_members: int, world_accounts: np.ndarray | None = None,
                           min_inside: float = 0.5) -> tuple[float, int, list[str], int]:
    """Share of the members' sampled prompts in templates the group shares, × slot diversity.

    Arguments are the members' rows of the world template sample. A template counts when
    at least max(2, 10% of members) use it *and*, if ``world_accounts`` (accounts per
    template in the whole world) is given, at least ``min_inside`` of its users are
    members: a phrasing half the world uses ("can you put that in a table?") says
    nothing about this group. Returns (t, shared templates, example request ids, members
    using a shared template).
    """
    ok = labels >= 0
    if len(labels) == 0 or not ok.any():
        return 0.0, 0, [], 0
    pairs = np.unique(np.stack([labels[ok], account[ok]]), axis=1)
    tpl, n_acc = np.unique(pairs[0], return_counts=True)
    keep = n_acc >= max(2, math.ceil(0.1 * n_members))
    if world_accounts is not None:
        keep &= n_acc >= min_inside * world_accounts[tpl]
    shared = tpl[keep]
    in_shared = ok & np.isin(labels, shared)
    n_in = int(in_shared.sum())
    if n_in == 0:
        return 0.0, 0, [], 0
    distinct = len(np.unique(raw_hash[in_shared]))
    t = (n_in / len(labels)) * (distinct / n_in)
    examples = [str(r) for r in request_ids.take(pa.array(np.flatnonzero(in_shared)[:5])).to_pylist()]
    users = len(np.unique(account[in_shared]))
    return float(t), int(len(shared)), examples, users


@dataclass(frozen=True)
class Shape:
    m: float  # member evidence
    identity: float
    network: float
    client: float  # share of members tied by a (rare) client string
    t: float
    s: float
    c: float
    z: float
    mu: float = 0.0  # world median account score
    watch: float = 0.5

    @property
    def identity_effective(self) -> float:
        """Identity ties count fully only on cheap identities: ten verified seats of an agency
        on one card are a customer; ten day-old unverified accounts on one card are a hydra."""
        return self.identity * (0.3 + 0.7 * self.c)

    @property
    def shape(self) -> float:
        w = SHAPE_WEIGHTS
        return 1.0 - ((1 - w["identity"] * self.identity_effective) * (1 - w["network"] * self.network)
                      * (1 - w["client"] * self.client)
                      * (1 - w["template"] * self.t) * (1 - w["sync"] * self.s) * (1 - w["cheap"] * self.c)
                      * (1 - w["size"] * self.z))

    @property
    def gate(self) -> float:
        b = max(self.m, self.t)
        span = self.watch - self.mu
        if span <= 1e-9:
            return 1.0 if b > self.mu else 0.0
        return min(1.0, max(0.0, (b - self.mu) / span))

    @property
    def score(self) -> float:
        return min(1.0, self.m + (1.0 - self.m) * self.shape * self.gate)


def shape_of(m: float, t: float, coverage: dict[str, float], cheap: float, size: int, *, mu: float = 0.0,
             watch: float = 0.5) -> Shape:
    def best(kinds: tuple[str, ...]) -> float:
        return max([coverage.get(k, 0.0) for k in kinds] + [0.0])

    return Shape(m=m, identity=best(IDENTITY_KINDS), network=best(NETWORK_KINDS), client=coverage.get("user_agent", 0.0),
                 t=t, s=best(SYNC_KINDS), c=cheap,
                 z=1.0 - math.exp(-max(0, size - 2) / 20.0), mu=mu, watch=watch)
