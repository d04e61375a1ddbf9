"""Plotly figures for the report, emitted as small <div>+<script> snippets.

plotly.js itself is inlined once in the page head (see _html.py); each figure here is only
its JSON. Every string that comes from data is HTML-escaped before it enters a figure,
because plotly renders a subset of HTML in labels and hover text, and the JSON is made
safe to sit inside <script> (no raw '<', '>' or '&').
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

import igraph as ig
import plotly.graph_objects as go

from distillguard.report._data import Timeline
from distillguard.report._graph import GraphData

VERDICT_COLOURS = {"flag": "#c0392b", "watch": "#e67e22", "clear": "#7f8c8d",
                   "distillation": "#c0392b", "benign": "#2e86c1"}
ATTR_COLOURS = ["#8e44ad", "#16a085", "#2c3e50", "#d35400", "#27ae60", "#2980b9", "#7d3c98"]
_CONFIG = {"displaylogo": False, "responsive": True,
           "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#222"}


def esc(text: Any) -> str:
    """Escape a data string for plotly text (plotly decodes entities when drawing)."""
    return html.escape(str(text), quote=True)


def _layout(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"template": "none", "font": _FONT, "margin": {"l": 55, "r": 15, "t": 35, "b": 45},
                            "paper_bgcolor": "white", "plot_bgcolor": "white", "height": 320,
                            "legend": {"orientation": "h", "y": -0.2}}
    base.update(kw)
    return base


def to_div(fig: go.Figure, div_id: str) -> str:
    """A <div> and the script that draws fig into it; safe to embed in HTML."""
    payload = fig.to_json(validate=False)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    cfg = str(_CONFIG).replace("'", '"').replace("False", "false").replace("True", "true")
    return (f'<div id="{div_id}" class="fig"></div>\n<script>(function(){{var f={payload};'
            f'Plotly.newPlot("{div_id}",f.data,f.layout,{cfg});}})();</script>')


def score_histogram(hist: dict[str, list[int]], watch: float | None, flag: float | None, by: str) -> go.Figure:
    """Accounts per score bin, stacked by verdict (or by ground truth), log y."""
    fig = go.Figure()
    n = len(next(iter(hist.values()), []))
    top = max((sum(col) for col in zip(*hist.values())), default=1) or 1
    centres = [(i + 0.5) / n for i in range(n)] if n else []
    for name in sorted(hist, key=lambda k: list(VERDICT_COLOURS).index(k) if k in VERDICT_COLOURS else 99):
        counts = hist[name]
        fig.add_trace(go.Bar(x=centres, y=[c if c else None for c in counts], name=esc(name), width=1.0 / max(n, 1),
                             marker={"color": VERDICT_COLOURS.get(name, "#95a5a6"), "line": {"width": 0}},
                             hovertemplate="score %{x:.2f}: %{y:,} accounts<extra>" + esc(name) + "</extra>"))
    shapes, notes = [], []
    for val, label in ((watch, "watch"), (flag, "flag")):
        if val is not None:
            shapes.append({"type": "line", "x0": val, "x1": val, "yref": "paper", "y0": 0, "y1": 1,
                           "line": {"dash": "dash", "color": VERDICT_COLOURS[label], "width": 1.5}})
            notes.append({"x": val, "y": 1, "yref": "paper", "text": f"{label} ≥ {val:g}", "showarrow": False,
                          "xanchor": "left", "yanchor": "bottom", "font": {"size": 11, "color": VERDICT_COLOURS[label]}})
    fig.update_layout(**_layout(barmode="stack", shapes=shapes, annotations=notes, bargap=0,
                                title={"text": f"accounts by score ({by})", "font": {"size": 13}, "x": 0.01},
                                xaxis={"title": {"text": "score"}, "range": [0, 1], "gridcolor": "#eee"},
                                yaxis={"title": {"text": "accounts (log)"}, "type": "log", "gridcolor": "#eee",
                                       "dtick": 1, "range": [-0.15, math.log10(top) + 0.35]}))
    return fig


def _layout_positions(g: GraphData) -> tuple[list[str], list[tuple[float, float]]]:
    names = [m[0] for m in g.members] + [f"{k}\x00{v}" for k, v, _ in g.attributes]
    index = {n: i for i, n in enumerate(names)}
    graph = ig.Graph(n=len(names), edges=[(index[a], index[b]) for a, b in g.edges if a in index and b in index])
    k = max(len(names), 1)
    seed = [[math.cos(2 * math.pi * i / k), math.sin(2 * math.pi * i / k)] for i in range(k)]
    if graph.ecount():
        pos = graph.layout_kamada_kawai(seed=seed, maxiter=50 * k)
        coords = [(float(x), float(y)) for x, y in pos.coords]
    else:
        coords = [(float(x), float(y)) for x, y in seed]
    return names, coords


def campaign_graph(g: GraphData, reach: dict[tuple[str, str], int] | None = None) -> go.Figure:
    """Members (circles, coloured by score) linked to the attributes they share (diamonds).

    ``reach`` (attribute -> accounts holding it in all traffic) goes into the hover text and
    fades attributes that many outsiders share too (a NAT, a popular SDK): weak evidence.
    """
    reach = reach or {}
    names, coords = _layout_positions(g)
    at = dict(zip(names, coords))
    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in g.edges:
        if a in at and b in at:
            ex += [at[a][0], at[b][0], None]
            ey += [at[a][1], at[b][1], None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"width": 0.7, "color": "#bbb"}, hoverinfo="skip",
                             showlegend=False))
    kinds = list(dict.fromkeys(k for k, _, _ in g.attributes))
    for i, kind in enumerate(kinds):
        pts = [(v, n) for k, v, n in g.attributes if k == kind]
        alls = [reach.get((kind, v)) for v, _ in pts]
        fig.add_trace(go.Scatter(
            x=[at[f"{kind}\x00{v}"][0] for v, _ in pts], y=[at[f"{kind}\x00{v}"][1] for v, _ in pts],
            mode="markers", name=esc(kind),
            marker={"symbol": "diamond", "size": [8 + min(n, 30) for _, n in pts],
                    "color": ATTR_COLOURS[i % len(ATTR_COLOURS)], "line": {"width": 1, "color": "white"},
                    "opacity": [1.0 if m is None or m <= 2 * n else 0.35 for (_, n), m in zip(pts, alls)]},
            text=[f"{esc(kind)}: {esc(v[:80])}<br>shared by {n} members"
                  + ("" if m is None else f"; {m:,} accounts in all traffic") for (v, n), m in zip(pts, alls)],
            hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[at[m[0]][0] for m in g.members], y=[at[m[0]][1] for m in g.members], mode="markers", name="account",
        marker={"size": 11, "color": [0 if math.isnan(s) else s for _, s, _ in g.members], "cmin": 0, "cmax": 1,
                "colorscale": [[0, "#d5d8dc"], [0.5, "#f5b041"], [1, "#c0392b"]],
                "line": {"width": 1, "color": "#555"},
                "colorbar": {"title": {"text": "score"}, "thickness": 10, "len": 0.6}},
        text=[f"{esc(a)}<br>score {s:.2f} ({esc(v)})" for a, s, v in g.members],
        hovertemplate="%{text}<extra></extra>"))
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(**_layout(height=380, xaxis=axis, yaxis=axis, margin={"l": 5, "r": 5, "t": 30, "b": 30},
                                title={"text": "account graph: members and shared attributes", "font": {"size": 13},
                                       "x": 0.01},
                                legend={"orientation": "h", "y": -0.02, "x": 0.0, "yanchor": "top", "font": {"size": 11}}))
    return fig


def campaign_timeline(t: Timeline) -> go.Figure:
    """Requests per hour/day, stacked by member (the busiest few, the rest summed)."""
    fig = go.Figure()
    for name, pts in t.series.items():
        xs: list[datetime] = [p[0] for p in pts]
        fig.add_trace(go.Bar(x=xs, y=[p[1] for p in pts], name=esc(name),
                             hovertemplate="%{x}: %{y:,} requests<extra>" + esc(name) + "</extra>"))
    fig.update_layout(**_layout(barmode="stack", bargap=0.05, height=300,
                                title={"text": f"requests per {t.bucket} by member", "font": {"size": 13}, "x": 0.01},
                                xaxis={"type": "date", "gridcolor": "#eee"},
                                yaxis={"title": {"text": "requests"}, "gridcolor": "#eee"},
                                legend={"orientation": "h", "y": -0.25, "font": {"size": 10}}))
    return fig
