"""The campaign graph, aggregated by shared fact so it stays readable at 100+ members.

A graph with a node per member is a hairball beyond ~40 accounts. Here the nodes are the
*facts* members share (a card, an e-mail domain, a sign-up or request network, a client
string; only facts held by two or more members, the most shared first) and *groups* of
members that hold exactly the same set of those facts. A 500-account hydra on 15 cards
draws as ~15 card squares and a few dozen group circles whose size is the member count.
igraph lays it out (Kamada-Kawai, deterministic) on the server and the page gets an inline
SVG: no script, and every label is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

import igraph as ig

from distillguard.console.words import FACT_NAMES

MAX_FACTS = 24
MAX_GROUPS = 30
W, H, PAD = 760, 500, 40


@dataclass
class Group:
    facts: tuple[tuple[str, str], ...]
    members: list[str] = field(default_factory=list)
    mean_score: float = 0.0


@dataclass
class CampaignGraph:
    facts: list[tuple[str, str, int]]          # kind, value, members holding it
    groups: list[Group]
    positions: dict[str, tuple[float, float]]  # node key -> (x, y) in SVG units
    members: int


def _fact_key(kind: str, value: str) -> str:
    return f"f:{kind}:{value}"


def build(member_facts: dict[str, dict[str, str]], scores: dict[str, float]) -> CampaignGraph:
    """Aggregate members into fact nodes and same-fact groups, and lay them out."""
    held: dict[tuple[str, str], int] = {}
    for facts in member_facts.values():
        for k, v in facts.items():
            if k in FACT_NAMES and v:
                held[(k, v)] = held.get((k, v), 0) + 1
    shared = sorted(((k, v, n) for (k, v), n in held.items() if n >= 2), key=lambda t: (-t[2], t[0], t[1]))[:MAX_FACTS]
    keep = {(k, v) for k, v, _ in shared}
    by_sig: dict[tuple[tuple[str, str], ...], Group] = {}
    for aid in sorted(member_facts):
        sig = tuple(sorted((k, v) for k, v in member_facts[aid].items() if (k, v) in keep))
        by_sig.setdefault(sig, Group(sig)).members.append(aid)
    groups = sorted(by_sig.values(), key=lambda g: (-len(g.members), g.facts))
    if len(groups) > MAX_GROUPS:
        rest = groups[MAX_GROUPS - 1:]
        merged = Group((), [a for g in rest for a in g.members])
        groups = groups[:MAX_GROUPS - 1] + [merged]
    for g in groups:
        g.mean_score = sum(scores.get(a, 0.0) for a in g.members) / max(1, len(g.members))
    keys = [_fact_key(k, v) for k, v, _ in shared] + [f"g:{i}" for i in range(len(groups))]
    index = {k: i for i, k in enumerate(keys)}
    edges = [(index[f"g:{i}"], index[_fact_key(k, v)]) for i, g in enumerate(groups) for k, v in g.facts]
    pos: dict[str, tuple[float, float]] = {}
    if keys:
        graph = ig.Graph(n=len(keys), edges=edges)
        layout = graph.layout_kamada_kawai() if len(keys) > 1 else ig.Layout([(0.0, 0.0)])
        xs = [p[0] for p in layout.coords]
        ys = [p[1] for p in layout.coords]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        sx = (W - 2 * PAD) / (x1 - x0) if x1 > x0 else 0.0
        sy = (H - 2 * PAD) / (y1 - y0) if y1 > y0 else 0.0
        for k, (x, y) in zip(keys, layout.coords):
            pos[k] = (PAD + (x - x0) * sx if sx else W / 2, PAD + (y - y0) * sy if sy else H / 2)
    return CampaignGraph(shared, groups, pos, len(member_facts))


def _colour(score: float) -> str:
    # low scores grey-blue, high scores red
    s = max(0.0, min(1.0, score))
    r, g, b = int(90 + 150 * s), int(120 - 70 * s), int(170 - 120 * s)
    return f"rgb({r},{g},{b})"


def _short(text: str, n: int = 26) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def svg(g: CampaignGraph) -> str:
    """The graph as an inline SVG string (all text escaped)."""
    if not g.positions:
        return '<p class="muted">no shared facts to draw (no accounts table or events for this campaign)</p>'
    parts = [f'<svg class="graph" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
             f'aria-label="campaign graph: {len(g.groups)} member groups tied by {len(g.facts)} shared facts">']
    for i, grp in enumerate(g.groups):
        x1, y1 = g.positions[f"g:{i}"]
        for k, v in grp.facts:
            x2, y2 = g.positions[_fact_key(k, v)]
            w = 0.6 + 1.2 * math.log2(1 + len(grp.members))
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#9aa5b1" '
                         f'stroke-opacity="0.6" stroke-width="{w:.1f}"/>')
    for k, v, n in g.facts:
        x, y = g.positions[_fact_key(k, v)]
        label = f"{FACT_NAMES.get(k, k)}: {v} — held by {n} members"
        parts.append(f'<g class="fact"><title>{escape(label)}</title>'
                     f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="#f2b134" stroke="#7a5500"/>'
                     + (f'<text x="{x - 9:.1f}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                        if x > W - 190 else f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" font-size="10">')
                     + f'{escape(_short(v))} ({n})</text></g>')
    for i, grp in enumerate(g.groups):
        x, y = g.positions[f"g:{i}"]
        r = 5 + 3.2 * math.sqrt(len(grp.members))
        what = ", ".join(f"{FACT_NAMES.get(k, k)} {v}" for k, v in grp.facts) or "no drawn fact in common"
        label = f"{len(grp.members)} accounts (mean score {grp.mean_score:.2f}) sharing {what}"
        parts.append(f'<g class="group"><title>{escape(label)}</title>'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{_colour(grp.mean_score)}" '
                     f'fill-opacity="0.85" stroke="#222"/>'
                     f'<text x="{x:.1f}" y="{y + 3.5:.1f}" font-size="10" text-anchor="middle" fill="#fff">'
                     f'{len(grp.members)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def from_case(data: dict[str, Any], members: list[tuple[str, float | None, str | None]]) -> CampaignGraph:
    """The graph of a campaign case from its stored member facts and member scores."""
    mf = data.get("member_facts") or {}
    scores = {a: float(s or 0.0) for a, s, _ in members}
    return build({a: (mf.get(a) or {}) for a, _, _ in members}, scores)


def timeline(points: list[tuple[str, int]] | list[list[Any]]) -> tuple[str, str]:
    """Hourly request counts as an SVG bar chart, per day when the span is over 14 days.

    Returns (bucket name, svg)."""
    from datetime import datetime

    if not points:
        return "hour", '<p class="muted">no events for this case (the scan\'s events were not found at import)</p>'
    pts = [(datetime.fromisoformat(str(h)), int(n)) for h, n in points]
    span = (pts[-1][0] - pts[0][0]).total_seconds()
    bucket = "day" if span > 14 * 86400 else "hour"
    if bucket == "day":
        agg: dict[Any, int] = {}
        for t, n in pts:
            d = t.replace(hour=0, minute=0, second=0, microsecond=0)
            agg[d] = agg.get(d, 0) + n
        pts = sorted(agg.items())
    step = 86400 if bucket == "day" else 3600
    t0 = pts[0][0]
    slots = int((pts[-1][0] - t0).total_seconds() // step) + 1
    tw, th, pad = 760, 140, 24
    top = max(n for _, n in pts)
    bw = max(1.0, (tw - 2 * pad) / max(1, slots))
    parts = [f'<svg class="timeline" viewBox="0 0 {tw} {th}" width="{tw}" height="{th}" role="img" '
             f'aria-label="requests per {bucket}">']
    for t, n in pts:
        i = int((t - t0).total_seconds() // step)
        h = (th - 2 * pad) * n / top
        parts.append(f'<rect x="{pad + i * bw:.1f}" y="{th - pad - h:.1f}" width="{max(0.8, bw - 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#3b82f6"><title>{escape(t.isoformat()[:16])}: {n} requests</title></rect>')
    parts.append(f'<text x="{pad}" y="{th - 6}" font-size="10">{escape(t0.isoformat()[:16])}</text>')
    parts.append(f'<text x="{tw - pad}" y="{th - 6}" font-size="10" text-anchor="end">'
                 f'{escape(pts[-1][0].isoformat()[:16])}</text>')
    parts.append(f'<text x="{pad}" y="{pad - 8}" font-size="10">max {top} per {bucket}</text></svg>')
    return bucket, "".join(parts)
