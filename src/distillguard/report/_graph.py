"""Each campaign's account graph: members and the attribute values they share.

Why a graph: "each account clean alone, guilty together". What an analyst needs to see is
which rare things tie the members (one payment card, one /24, a signup email pattern), so
values that many outsiders hold too (a university NAT, a popular SDK, gmail.com) are kept
but ranked last and faded. Values come from the ``events`` / ``accounts`` views with the
SQL in ATTRIBUTES; the campaign's own ``shared_infrastructure`` is the fallback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from distillguard.findings import Campaign
from distillguard.report._data import _columns, _Registered, has_view

MAX_GRAPH_MEMBERS = 60      # member nodes per campaign graph
MAX_GRAPH_ATTRS = 40        # shared-attribute nodes per campaign graph
MAX_SCAN_MEMBERS = 5_000    # members whose attributes are read per campaign

_V4_24 = "CASE WHEN {c} LIKE '%.%.%.%' THEN regexp_extract({c}, '^(\\d+\\.\\d+\\.\\d+)\\.', 1) || '.0/24' ELSE {c} END"
ATTRIBUTES: dict[str, tuple[str, str, str]] = {  # kind -> (view, column, SQL giving the value shown)
    "payment": ("accounts", "payment_fingerprint", "payment_fingerprint"),
    "ip /24": ("events", "ip", _V4_24.format(c="ip")),
    "signup ip /24": ("accounts", "signup_ip", _V4_24.format(c="signup_ip")),
    "email domain": ("accounts", "email", "lower(split_part(email, '@', 2))"),
    "client": ("events", "user_agent", "user_agent"),
}

Holders = dict[tuple[str, str], set[str]]            # (kind, value) -> member account ids


@dataclass
class GraphData:
    """A campaign's member accounts and the attributes two or more of them share."""

    members: list[tuple[str, float, str]]            # (account_id, score, verdict)
    attributes: list[tuple[str, str, int]]           # (kind, value, members sharing it)
    edges: list[tuple[str, str]]                     # (account_id, "kind\x00value")


def shared_attributes(c: Campaign, con: duckdb.DuckDBPyConnection | None) -> Holders:
    """Attribute values held by two or more of the campaign's members."""
    members = c.account_ids[:MAX_SCAN_MEMBERS]
    holders: Holders = {}
    if con is not None and members:
        mt = pa.table({"account_id": members}, schema=pa.schema([("account_id", pa.string())]))
        with _Registered(con, _dg_members=mt):
            for kind, (view, col, expr) in ATTRIBUTES.items():
                if not has_view(con, view) or col not in _columns(con, view):
                    continue
                for aid, v in con.execute(
                        f"SELECT DISTINCT account_id, {expr} FROM {view} WHERE {col} IS NOT NULL AND "
                        "account_id IN (SELECT account_id FROM _dg_members)").fetchall():
                    if v:
                        holders.setdefault((kind, str(v)), set()).add(aid)
    shared = {k: h for k, h in holders.items() if len(h) >= 2}
    if not shared:
        shared = _declared(c)
    return shared


def _declared(c: Campaign) -> Holders:
    """Values from the campaign's shared_infrastructure, linked to every member (no per-member data)."""
    out: Holders = {}
    members = set(c.account_ids[:MAX_GRAPH_MEMBERS])
    for kind, v in (c.shared_infrastructure or {}).items():
        if isinstance(v, dict):
            vals = v.get("top") or []
        else:
            vals = v if isinstance(v, list) else [v]
        for x in vals[:5]:
            if isinstance(x, (str, int, float)) and not isinstance(x, bool):
                out[(str(kind), re.sub(r" \(\d+\)$", "", str(x)))] = members
    return out


def attribute_reach(con: duckdb.DuckDBPyConnection | None, shared: list[Holders]) -> dict[tuple[str, str], int]:
    """How many accounts in the whole traffic hold each shared attribute value.

    A /24 shared by 5 campaign members and nobody else is strong evidence; one shared with
    3,000 other accounts is a university NAT. One query per attribute kind, for all campaigns.
    """
    wanted: dict[str, set[str]] = {}
    for h in shared:
        for kind, v in h:
            if kind in ATTRIBUTES:
                wanted.setdefault(kind, set()).add(v)
    out: dict[tuple[str, str], int] = {}
    if con is None:
        return out
    for kind, values in wanted.items():
        view, col, expr = ATTRIBUTES[kind]
        if not has_view(con, view) or col not in _columns(con, view):
            continue
        vt = pa.table({"v": sorted(values)}, schema=pa.schema([("v", pa.string())]))
        with _Registered(con, _dg_vals=vt):
            rows = con.execute(
                f"SELECT v, count(DISTINCT account_id) FROM (SELECT {expr} AS v, account_id FROM {view} "
                f"WHERE {col} IS NOT NULL) WHERE v IN (SELECT v FROM _dg_vals) GROUP BY v").fetchall()
        out.update({(kind, str(v)): int(n) for v, n in rows})
    return out


def build_graph(c: Campaign, shared: Holders, reach: dict[tuple[str, str], int],
                scores: dict[str, tuple[float, str]]) -> GraphData:
    """Pick the most telling attributes (rare outside the campaign, shared by many inside)
    and the members they tie, within the node caps."""
    def specificity(item: tuple[tuple[str, str], set[str]]) -> tuple[float, int, tuple[str, str]]:
        key, h = item
        outside = max(reach.get(key, len(h)), len(h))
        return (-len(h) * len(h) / outside, -len(h), key)

    top = sorted(shared.items(), key=specificity)[:MAX_GRAPH_ATTRS]
    links: dict[str, int] = {}
    for _, h in top:
        for a in h:
            links[a] = links.get(a, 0) + 1
    score = lambda a: scores.get(a, (math.nan, "?"))[0]  # noqa: E731
    tied = sorted(links, key=lambda a: (-links[a], -(0 if math.isnan(score(a)) else score(a)), a))
    chosen = tied[:MAX_GRAPH_MEMBERS]
    if len(chosen) < MAX_GRAPH_MEMBERS:
        rest = sorted((a for a in c.account_ids if a not in links),
                      key=lambda a: (-(0 if math.isnan(score(a)) else score(a)), a))
        chosen += rest[:MAX_GRAPH_MEMBERS - len(chosen)]
    keep = set(chosen)
    attrs = [(k, v, len(h & keep)) for (k, v), h in top if len(h & keep) >= 1]
    edges = [(a, f"{k}\x00{v}") for (k, v), h in top for a in sorted(h & keep)]
    return GraphData(members=[(a, *scores.get(a, (math.nan, "?"))) for a in chosen], attributes=attrs, edges=edges)
