"""Communities of the account graph with Leiden (igraph + leidenalg), deterministically.

Why Leiden: it finds well-connected communities in weighted graphs of 10^5 nodes in
seconds and, unlike Louvain, guarantees they are connected. Why the Constant Potts Model
rather than modularity: CPM's ``resolution`` is a density — a community is a group whose
members are tied, on average per pair, more strongly than ``resolution`` — so it has no
resolution limit (a 5-account hydra is not swallowed in a 50k-account world) and does
not split a 200-account hydra along its three payment cards. A fixed seed and node order
make the result reproducible.
"""

from __future__ import annotations

import igraph as ig
import leidenalg as la
import numpy as np

from distillguard.campaigns.graph import KIND_WEIGHTS, AccountGraph

FACT_GROUPS: dict[str, tuple[str, ...]] = {
    "card": ("payment",),
    "email": ("email_pattern", "disposable_email"),
    "signup": ("signup_burst",),
    "network": ("ip", "subnet", "signup_subnet"),
    "client": ("user_agent",),
}
"""Independent facts two groups of accounts can share. A hydra that rotates cards, proxies
and addresses shares each fact only with a few siblings, but two of its card groups share
*several* independent rare facts (a proxy /24 and a rare client string and an email
pattern); two unrelated groups of ordinary users rarely share more than one. Templates
and synchronised starts are left out: a popular phrasing or a busy minute is shared by
whole populations, and chained merges through them would glue the world together."""


IDENTITY_FACTS = ("card", "email", "signup")
"""Facts about *who* holds an account (payment, mail, signup) rather than where it connects
from or which software it runs: an ISP block or an SDK is shared by strangers, a card or a
mail-naming scheme by one operator."""


def edge_facts(graph: AccountGraph, min_rarity: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Per edge: how many independent rare facts (FACT_GROUPS) it carries, and whether one of
    them is an identity fact. A fact counts when the edge carries it at ≥ ``min_rarity`` of
    its kind's base weight (the shared value is rare in this world)."""
    base = np.array([KIND_WEIGHTS.get(k, 0.0) or 1.0 for k in graph.kind_names])
    norm = graph.kind_weight / base[None, :]
    facts = np.zeros(graph.n_edges, dtype=np.int64)
    identity = np.zeros(graph.n_edges, dtype=bool)
    for name, kinds in FACT_GROUPS.items():
        cols = [graph.kind_names.index(k) for k in kinds if k in graph.kind_names]
        if cols:
            has = (norm[:, cols] >= min_rarity).any(axis=1)
            facts += has
            if name in IDENTITY_FACTS:
                identity |= has
    return facts, identity


def strong_ties(graph: AccountGraph, membership: np.ndarray, min_rarity: float = 0.35) -> np.ndarray:
    """Per account: is it tied to another member of its own community by who holds it or by
    what it sends, not only by where it connects from?

    Strong = an edge to a sibling carrying at least two independent rare facts one of which
    is an identity fact (card, mail scheme, signup burst), or a rare shared prompt template
    plus at least one rare fact (one generation script run from shared infrastructure).
    Why: a hydra's accounts are tied to their siblings by who holds them *and* how they
    connect, and a harvest crew by its script; an innocent user who lands in the community
    only through a residential proxy block or a common client shares at most the
    environment, and must not inherit the network's guilt (decide/ scales its share down).
    """
    out = np.zeros(len(membership), dtype=bool)
    if graph.n_edges == 0:
        return out
    facts, identity = edge_facts(graph, min_rarity)
    template = np.zeros(graph.n_edges, dtype=bool)
    if "template" in graph.kind_names:
        j = graph.kind_names.index("template")
        template = graph.kind_weight[:, j] >= min_rarity * (KIND_WEIGHTS.get("template", 0.0) or 1.0)
    a, b = membership[graph.src], membership[graph.dst]
    ok = (a == b) & (a >= 0) & (((facts >= 2) & identity) | (template & (facts >= 1)))
    out[graph.src[ok]] = True
    out[graph.dst[ok]] = True
    return out


def merge_by_combination(graph: AccountGraph, membership: np.ndarray, *, min_facts: int = 2,
                         min_rarity: float = 0.35, min_links: int = 2, min_cover: float = 0.2,
                         min_core: int = 2) -> np.ndarray:
    """Union communities joined by ``min_links`` account pairs that each share ``min_facts``
    independent rare facts.

    Why: CPM keeps a community dense, so a hydra that gives each payment card its own
    handful of accounts comes out as one community per card, each too small to matter.
    Across those communities the evidence is a *combination*: two accounts on different
    cards that share a rare client string *and* an email pattern, or a proxy /24 *and* a
    client string. Each fact alone is common among innocent users (ISP blocks, SDKs, gmail
    shapes) and must not glue groups together; several independent ones on the same pair
    of accounts point at one operator. Requiring ``min_links`` such pairs between two
    communities keeps one coincidence from merging them, and requiring the linked accounts
    to be at least ``min_cover`` of *each* community keeps a large mixed community that
    happens to hold a couple of a hydra's accounts from being glued to it. Only cores of
    at least ``min_core`` accounts merge: a lone account that shares an ISP block and a
    client with two hydra accounts is a coincidence a hundred-account network makes
    likely, and joining it would make it inherit the network's score. A fact counts when the pair's
    edge carries it at ≥ ``min_rarity`` of its kind's base weight (the value is rare in
    this world). ``membership`` holds one community label per account of the graph
    (-1 = none); returns the merged labels (each merged group takes its smallest label).
    """
    if graph.n_edges == 0 or membership.size == 0 or int(membership.max()) < 0:
        return membership
    facts, _ = edge_facts(graph, min_rarity)
    a, b = membership[graph.src], membership[graph.dst]
    link = (facts >= min_facts) & (a != b) & (a >= 0) & (b >= 0)
    if not link.any():
        return membership
    span = int(membership.max()) + 1
    key = np.minimum(a[link], b[link]).astype(np.int64) * span + np.maximum(a[link], b[link])
    ukey, count = np.unique(key, return_counts=True)
    sizes = np.bincount(membership[membership >= 0], minlength=span)
    ends = np.concatenate([graph.src[link], graph.dst[link]])
    end_key = np.concatenate([key, key])
    touched = np.unique(np.stack([end_key, ends]), axis=1)  # (community pair, account) once each
    side = membership[touched[1]]
    lo_c, hi_c = touched[0] // span, touched[0] % span
    pos = np.searchsorted(ukey, touched[0])
    cover_lo = np.bincount(pos[side == lo_c], minlength=len(ukey)) / np.maximum(sizes[ukey // span], 1)
    cover_hi = np.bincount(pos[side == hi_c], minlength=len(ukey)) / np.maximum(sizes[ukey % span], 1)
    ok = (count >= min_links) & (np.minimum(cover_lo, cover_hi) >= min_cover)
    ok &= np.minimum(sizes[ukey // span], sizes[ukey % span]) >= min_core
    parent = np.arange(span)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    for k in ukey[ok].tolist():
        x, y = find(k // span), find(k % span)
        if x != y:
            parent[max(x, y)] = min(x, y)
    roots = np.array([find(i) for i in range(len(parent))])
    return np.where(membership >= 0, roots[np.maximum(membership, 0)], -1)


def communities(graph: AccountGraph, *, resolution: float = 0.5, seed: int = 7, min_size: int = 3,
                merge_facts: int = 2, merge_rarity: float = 0.35, merge_links: int = 2) -> list[np.ndarray]:
    """Groups of account indexes (sorted, each ≥ ``min_size``), largest first then by first index.

    Leiden/CPM first finds dense cores; :func:`merge_by_combination` then joins cores tied
    by ``merge_links`` account pairs sharing ``merge_facts`` independent rare facts
    (``merge_facts`` = 0 turns the merge off).
    """
    if graph.n_edges == 0:
        return []
    nodes, inv = np.unique(np.concatenate([graph.src, graph.dst]), return_inverse=True)
    m = graph.n_edges
    edges = np.stack([inv[:m], inv[m:]], axis=1)
    g = ig.Graph(n=len(nodes), edges=edges.tolist(), directed=False)
    g.es["weight"] = graph.density.tolist()
    part = la.find_partition(g, la.CPMVertexPartition, weights="weight",
                             resolution_parameter=resolution, seed=seed, n_iterations=3)
    member = np.full(len(graph.accounts), -1, dtype=np.int64)
    member[nodes] = np.asarray(part.membership)
    if merge_facts > 0:
        member = merge_by_combination(graph, member, min_facts=merge_facts, min_rarity=merge_rarity,
                                      min_links=merge_links)
    groups = [np.flatnonzero(member == c) for c in np.unique(member[member >= 0]).tolist()]
    groups = [grp for grp in groups if len(grp) >= min_size]
    groups.sort(key=lambda grp: (-len(grp), int(grp[0])))
    return groups
