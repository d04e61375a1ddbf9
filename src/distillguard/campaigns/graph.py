"""The account graph: edges from shared *rare* infrastructure, templates and synchronised activity.

Why: a hydra network spreads its harvesting over hundreds of cheap accounts so that each
one looks clean; what gives it away is what the accounts share — a few payment cards, a
proxy /24, an email pattern, a signup burst, the same prompt templates, the same clock.
What must *not* glue accounts together is what thousands of innocent accounts share: a
university NAT, a popular SDK, gmail.com. So every shared attribute value is an edge
source whose weight falls with the number of accounts holding it (IDF-like rarity,
relative to a world of at least ``reference_population`` accounts), values held by more
than ``max_bucket`` accounts are ignored, and a pair's weight per attribute kind is
capped, so one kind (30 classmates behind one IP) cannot by itself make a dense campaign.

Edges are built through buckets (accounts sharing a value), never over all pairs: a
bucket of up to ``clique_max`` accounts becomes a clique, a larger one a sparse
expander (each member linked to the members 1, 2, 4, 8, … places after it in a fixed
order), so the cost is O(attributes × log bucket size) and 50k accounts are cheap.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.features import minhash
from distillguard.features.templates import WorldTemplates

KIND_WEIGHTS: dict[str, float] = {
    "payment": 3.0,  # same card fingerprint: strongest cheap-identity tie
    "ip": 1.2,  # same address on the same day
    "subnet": 0.7,  # same /24 (v4) or /48 (v6) on the same day
    "signup_subnet": 0.8,  # signed up from the same /24 or /48
    "user_agent": 0.4,  # same (rare) client string
    "email_pattern": 0.9,  # same local-part shape (e.g. letters4 digits4) at the same domain
    "disposable_email": 0.3,  # same throwaway-mail domain
    "signup_burst": 0.6,  # created within the same 10 minutes
    "template": 1.0,  # send prompts from the same template cluster
    "sync_start": 0.25,  # first request within the same 2 minutes (never a tie on its own)
    "sync_hours": 0.0,  # near-identical active-hour sets (MinHash/LSH); off: chance overlaps at scale,
                        # synchronisation is measured inside communities instead (score.py)
}
"""Base weight of each attribute kind (docs/campaigns.md explains each)."""

INFRA_KINDS = ("payment", "ip", "subnet", "signup_subnet", "user_agent", "email_pattern", "disposable_email",
               "signup_burst")
IDENTITY_KINDS = ("payment", "email_pattern", "disposable_email", "signup_burst")
NETWORK_KINDS = ("ip", "subnet", "signup_subnet")
SYNC_KINDS = ("sync_start", "sync_hours")
GROUP_CAPS: dict[tuple[str, ...], float] = {NETWORK_KINDS: 1.2, SYNC_KINDS: 0.8}
"""Kinds that describe one underlying fact (one NAT shows up as ip, subnet and signup
subnet) share one cap per pair, so the fact is counted once."""

DISPOSABLE_DOMAINS = frozenset("""
mailinator.com guerrillamail.com guerrillamail.net sharklasers.com grr.la 10minutemail.com 10minutemail.net
temp-mail.org tempmail.com tempmail.net tempmailo.com tempail.com yopmail.com yopmail.net trashmail.com
trashmail.de getnada.com nada.email dispostable.com maildrop.cc throwawaymail.com fakeinbox.com mintemail.com
emailondeck.com mohmal.com burnermail.io spamgourmet.com mailnesia.com moakt.com tempr.email discard.email
33mail.com mailcatch.com getairmail.com mail.tm inboxkitten.com emailfake.com tmpmail.org tmail.ws
""".split())

_SHAPE = re.compile(r"[a-z]+|[0-9]+|[^a-z0-9]")


@dataclass
class GraphParams:
    """Knobs of the graph (campaigns.graph section of settings.detectors['campaigns'].params)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))
    window_hours: int = 24
    burst_minutes: int = 10
    start_minutes: int = 2
    clique_max: int = 40
    max_bucket: int = 2000
    reference_population: int = 200
    min_edge_weight: float = 0.3
    min_template_prompts: int = 2
    template_max_share: float = 0.1  # a template a tenth of the world uses is a popular phrasing, not a tie
    min_active_hours: int = 6


def email_shape(email: str | None) -> str | None:
    """``"anna1984@proton.me"`` → ``"a4d4@proton.me"``: the pattern a signup script leaves."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.lower().rpartition("@")
    parts = []
    for tok in _SHAPE.findall(local):
        if tok[0].isalpha():
            parts.append(f"a{len(tok)}")
        elif tok[0].isdigit():
            parts.append(f"d{len(tok)}")
        else:
            parts.append(tok)
    return "".join(parts) + "@" + domain


def subnet(ip: str | None) -> str | None:
    """/24 of an IPv4 address, /48 of an IPv6 one (textual, no parsing library needed)."""
    if not ip:
        return None
    if ":" not in ip:
        parts = ip.split(".")
        return ".".join(parts[:3]) + ".0/24" if len(parts) == 4 else None
    head, _, tail = ip.partition("::")
    groups = [g for g in head.split(":") if g] if head or not tail else []
    if "::" in ip and len(groups) < 3:
        groups = groups + ["0"] * (3 - len(groups))
    return ":".join(g.lstrip("0") or "0" for g in groups[:3]).lower() + "::/48"


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    try:
        con.sql(f"select * from {name} limit 0")
        return True
    except duckdb.Error:
        return False


def collect_attributes(con: duckdb.DuckDBPyConnection, templates: WorldTemplates | None,
                       params: GraphParams) -> pa.Table:
    """Every (account_id, kind, value) the graph links on, deduplicated."""
    win = max(1, int(params.window_hours))
    burst = max(1, int(params.burst_minutes))
    parts: list[pa.Table] = []

    def add(rows: list[tuple[Any, ...]], kind: str) -> None:
        if rows:
            parts.append(pa.table({"account_id": [r[0] for r in rows], "kind": [kind] * len(rows),
                                   "value": [str(r[1]) for r in rows]}))

    cols = set(con.sql("select * from events limit 0").columns)
    bucket = f"(epoch(ts)::bigint // {win * 3600})"
    if "ip" in cols:
        ips = con.sql(f"select distinct account_id, ip, {bucket} as w from events where ip is not null").fetchall()
        add([(a, f"{ip}|{w}") for a, ip, w in ips], "ip")
        sub_cache: dict[str, str | None] = {}
        subs = set()
        for a, ip, w in ips:
            s = sub_cache.get(ip) if ip in sub_cache else sub_cache.setdefault(ip, subnet(ip))
            if s:
                subs.add((a, f"{s}|{w}"))
        add(sorted(subs), "subnet")
    if "user_agent" in cols:
        add(con.sql("select distinct account_id, user_agent from events where user_agent is not null").fetchall(),
            "user_agent")
    start = max(1, int(params.start_minutes))
    add(con.sql(f"select account_id, epoch(min(ts))::bigint // {start * 60} from events group by 1").fetchall(),
        "sync_start")
    if params.weights.get("sync_hours", 0.0) > 0:
        add(_sync_hours(con, params), "sync_hours")
    if _has_table(con, "accounts"):
        acc = con.sql("select account_id, payment_fingerprint, email, signup_ip, "
                      f"epoch(created_at)::bigint // {burst * 60} from accounts").fetchall()
        add([(a, p) for a, p, _, _, _ in acc if p], "payment")
        shapes = [(a, email_shape(e)) for a, _, e, _, _ in acc]
        add([(a, s) for a, s in shapes if s], "email_pattern")
        add([(a, s.rpartition("@")[2]) for a, s in shapes if s and s.rpartition("@")[2] in DISPOSABLE_DOMAINS],
            "disposable_email")
        add([(a, subnet(ip)) for a, _, _, ip, _ in acc if subnet(ip)], "signup_subnet")
        add([(a, c) for a, _, _, _, c in acc if c is not None], "signup_burst")
    if templates is not None and templates.sample.size:
        s = templates.sample
        lab = templates.labels
        ok = lab >= 0
        key = np.unique(np.stack([s.account[ok], lab[ok]]), axis=1, return_counts=True)
        (acc_idx, tpl), cnt = key
        keep = cnt >= params.min_template_prompts
        add([(s.accounts[a], t) for a, t in zip(acc_idx[keep].tolist(), tpl[keep].tolist())], "template")
    if not parts:
        return pa.table({"account_id": pa.array([], pa.string()), "kind": pa.array([], pa.string()),
                         "value": pa.array([], pa.string())})
    return pa.concat_tables(parts)


def _sync_hours(con: duckdb.DuckDBPyConnection, params: GraphParams) -> list[tuple[str, str]]:
    """LSH band keys of each account's set of active hours (accounts with enough hours)."""
    tab = con.sql(
        f"""with h as (select distinct account_id, epoch(ts)::bigint // 3600 as hr from events)
            select account_id, list(hr order by hr) as hours from h group by 1
            having count(*) >= {int(params.min_active_hours)} order by 1""").to_arrow_table()
    if tab.num_rows == 0:
        return []
    accounts = tab.column("account_id").to_pylist()
    hours = tab.column("hours").combine_chunks()
    flat = hours.values.to_numpy().astype(np.uint64)
    owner = np.repeat(np.arange(len(accounts)), np.diff(hours.offsets.to_numpy()))
    bands = minhash.set_band_keys(flat, owner, len(accounts), num_perm=32, bands=8)
    return [(a, f"{j}:{int(k)}") for i, a in enumerate(accounts) for j, k in enumerate(bands[i])]


@dataclass(frozen=True)
class AccountGraph:
    """Weighted undirected account graph (edges i < j, indexes into ``accounts``)."""

    accounts: list[str]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray  # tie strength of the pair (sum over kinds of capped rarity weights)
    density: np.ndarray  # weight the clustering uses (expander edges scaled up to clique density)
    attributes: pa.Table  # (account_idx, kind, value, value_id, bucket): rows edges came from
    kind_names: list[str]
    kind_weight: np.ndarray  # (n_edges, n_kinds) capped weight contributed by each kind

    @property
    def n_edges(self) -> int:
        return len(self.src)


def rarity(bucket_size: np.ndarray, n_accounts: int, params: GraphParams, max_share: float = 1.0) -> np.ndarray:
    """IDF-like weight in (0, 1]: 1 for a value two accounts share, → 0 as it gets common.

    Values held by more than ``max_bucket`` accounts, or by more than ``max_share`` of the
    world (at least 20 accounts), weigh nothing.
    """
    pop = max(n_accounts, params.reference_population)
    size = np.maximum(bucket_size, 2).astype(np.float64)
    w = np.log(pop / size) / math.log(pop / 2.0)
    limit = min(params.max_bucket, max(20, int(max_share * max(n_accounts, 1))))
    return np.clip(w, 0.0, 1.0) * (bucket_size <= limit)


def build_graph(attributes: pa.Table, accounts: list[str], params: GraphParams) -> AccountGraph:
    """Turn shared attribute values into weighted pair edges (see module docstring)."""
    index = {a: i for i, a in enumerate(accounts)}
    kinds = sorted(set(attributes.column("kind").to_pylist())) if attributes.num_rows else []
    kind_id = {k: i for i, k in enumerate(kinds)}
    acc = np.array([index.get(a, -1) for a in attributes.column("account_id").to_pylist()], dtype=np.int64)
    kid = np.array([kind_id[k] for k in attributes.column("kind").to_pylist()], dtype=np.int64)
    vals = attributes.column("value").to_pylist()
    # one id per (kind, value); each id has exactly one kind
    keyed = np.array([f"{k}\x00{v}" for k, v in zip(kid.tolist(), vals)], dtype=object)
    if len(keyed):
        uniq, vid = np.unique(keyed, return_inverse=True)
        vid = np.asarray(vid, dtype=np.int64).ravel()
    else:
        uniq, vid = np.zeros(0, dtype=object), np.zeros(0, np.int64)
    kid_lookup = np.zeros(len(uniq), dtype=np.int64)
    kid_lookup[vid] = kid
    ok = acc >= 0
    acc, vid = acc[ok], vid[ok]
    pair = np.unique(np.stack([vid, acc]), axis=1) if len(acc) else np.zeros((2, 0), np.int64)
    vid, acc = pair[0], pair[1]
    kid = kid_lookup[vid]
    size_of_v = np.bincount(vid, minlength=len(uniq))
    n = len(accounts)
    base = np.array([params.weights.get(k, 0.0) for k in kinds], dtype=np.float64)
    is_tpl = np.array([k == "template" for k in kinds], dtype=bool)[kid_lookup] if len(kid_lookup) else np.zeros(0, bool)
    w_v = (base[kid_lookup] * np.where(is_tpl, rarity(size_of_v, n, params, params.template_max_share),
                                       rarity(size_of_v, n, params))) if len(kid_lookup) else np.zeros(0)
    attrs_out = pa.table({"account_idx": acc, "kind": pa.array([kinds[k] for k in kid.tolist()], pa.string()),
                          "value": pa.array([str(uniq[v]).split("\x00", 1)[1] for v in vid.tolist()], pa.string()),
                          "value_id": vid, "bucket": size_of_v[vid] if len(vid) else np.zeros(0, np.int64)})
    # rows sorted by (value, account): buckets are contiguous runs
    order = np.lexsort((acc, vid))
    vid, acc = vid[order], acc[order]
    starts = np.searchsorted(vid, vid, side="left")
    size = size_of_v[vid] if len(vid) else np.zeros(0, np.int64)
    rank = np.arange(len(vid)) - starts
    live = (size >= 2) & (w_v[vid] > 0 if len(vid) else np.zeros(0, bool))
    srcs, dsts, vs = [], [], []
    small = live & (size <= params.clique_max)
    for d in range(1, min(params.clique_max, int(size.max()) if len(size) else 1)):
        m = small & (rank + d < size)
        if not m.any():
            break
        i = np.flatnonzero(m)
        srcs.append(acc[i]); dsts.append(acc[i + d]); vs.append(vid[i])
    large = live & (size > params.clique_max)
    if large.any():
        d = 1
        while d < int(size[large].max()):
            m = large & (d < size)
            i = np.flatnonzero(m)
            partner = starts[i] + (rank[i] + d) % size[i]
            srcs.append(acc[i]); dsts.append(acc[partner]); vs.append(vid[i])
            d *= 2
    # An expander stands in for a clique: each of its edges carries (s-1)/degree of a clique
    # edge's weight in the density the clustering sees, so a big bucket is as dense as a small one.
    degree = 2.0 * np.ceil(np.log2(np.maximum(size_of_v, 2)))
    mult = np.where(size_of_v > params.clique_max, (size_of_v - 1) / degree, 1.0)
    if not srcs:
        z = np.zeros(0, np.int64)
        return AccountGraph(accounts, z, z, np.zeros(0), np.zeros(0), attrs_out, kinds, np.zeros((0, len(kinds))))
    s, t, v = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(vs)
    lo, hi = np.minimum(s, t), np.maximum(s, t)
    keep = lo != hi
    lo, hi, v = lo[keep], hi[keep], v[keep]
    k = kid_lookup[v]
    # per (pair, kind): tie strength capped at the kind's base weight; then summed over kinds
    pk = (lo * n + hi) * len(kinds) + k
    upk, inv = np.unique(pk, return_inverse=True)
    kcol = upk % len(kinds)
    strength = np.minimum(np.bincount(inv, weights=w_v[v]), base[kcol])
    max_mult = np.zeros(len(upk))
    np.maximum.at(max_mult, inv, mult[v])
    dense = np.minimum(np.bincount(inv, weights=w_v[v] * mult[v]), base[kcol] * max_mult)
    upair, pinv = np.unique(upk // len(kinds), return_inverse=True)
    kind_weight = np.zeros((len(upair), len(kinds)))
    kind_weight[pinv, kcol] = strength
    dense_kind = np.zeros_like(kind_weight)
    dense_kind[pinv, kcol] = dense
    for group, cap in GROUP_CAPS.items():
        cols = [kinds.index(g) for g in group if g in kinds]
        if len(cols) > 1:
            tot = kind_weight[:, cols].sum(axis=1)
            scale = np.where(tot > cap, cap / np.maximum(tot, 1e-12), 1.0)[:, None]
            kind_weight[:, cols] *= scale
            dense_kind[:, cols] *= scale
    total = kind_weight.sum(axis=1)
    density = dense_kind.sum(axis=1)
    strong = total >= params.min_edge_weight
    upair = upair[strong]
    return AccountGraph(accounts, upair // n, upair % n, total[strong], density[strong], attrs_out, kinds,
                        kind_weight[strong])
