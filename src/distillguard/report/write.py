"""write_report: one self-contained, offline HTML page from a findings folder.

The page reads only the findings contract (plus, when given, the events view for example
prompts, graphs and timelines, and labels for ground truth), so it works the same for our
scan, a baseline detector or findings received from elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from plotly.offline import get_plotlyjs

from distillguard._version import __version__
from distillguard.config import ScoringConfig
from distillguard.errors import InputError
from distillguard.findings import Findings, validate_accounts
from distillguard.report import _data as D
from distillguard.report import _figures as F
from distillguard.report import _graph as G
from distillguard.report import _html as H


def _thresholds(meta: dict[str, Any]) -> tuple[float | None, float | None]:
    """watch/flag thresholds the scan used (meta), else the configured defaults."""
    for key in ("scoring", "thresholds"):
        v = meta.get(key)
        if isinstance(v, dict) and ("watch" in v or "flag" in v):
            return v.get("watch"), v.get("flag")
    if "watch" in meta or "flag" in meta:
        return meta.get("watch"), meta.get("flag")
    d = ScoringConfig()
    return d.watch, d.flag


def _check_labels(labels: pa.Table | None) -> None:
    if labels is not None and not {"account_id", "label"} <= set(labels.column_names):
        raise InputError(f"labels need account_id and label columns; found {labels.column_names}")


def write_report(findings: Findings, con: duckdb.DuckDBPyConnection | None, out_path: Path,
                 labels: pa.Table | None = None, *, signals: pa.Table | None = None,
                 title: str = "distillguard report", console_url: str | None = None) -> Path:
    """Write report.html for ``findings`` and return its path.

    ``con`` may hold an ``events`` view in the canonical schema (example prompts, campaign
    timelines, shared IPs/clients) and an ``accounts`` view (shared cards and email
    domains); with None the page still renders from the findings alone. ``labels``
    (LABELS_SCHEMA) adds ground-truth columns; ``signals`` (signals.parquet rows with
    account_id, signal, score, examples) supplies the detectors' example request ids.
    ``console_url`` (setting ``console.url``) links each campaign and account to its case in
    the analyst console (docs/console.md).
    """
    validate_accounts(findings.accounts)
    _check_labels(labels)
    out_path = Path(out_path)
    acc = findings.accounts
    with_provider = "provider" in acc.column_names
    # Join truth on (provider, account_id) when both sides carry a provider, else on account_id.
    with_provider_truth = with_provider and labels is not None and "provider" in labels.column_names
    truth = D.label_index(labels, with_provider_truth)
    have_events = D.has_view(con, "events")

    summary = D.summarise(findings, con, truth, with_provider_truth)
    scores = acc.column("score").to_pylist()
    if truth:
        provs = acc.column("provider").to_pylist() if with_provider_truth else [None] * acc.num_rows
        groups = [(truth.get((p, a)) or {}).get("label") or "unlabelled"
                  for p, a in zip(provs, acc.column("account_id").to_pylist())]
        by = "ground truth"
    else:
        groups, by = acc.column("verdict").to_pylist(), "verdict"
    watch, flag = _thresholds(findings.meta)
    hist_div = F.to_div(F.score_histogram(D.score_histogram(scores, groups), watch, flag, by), "fig-hist")

    ranked = D.rank_campaigns(findings.campaigns)
    listed, detailed = ranked[:D.MAX_CAMPAIGN_ROWS], ranked[:D.MAX_CAMPAIGNS]
    shown = acc.filter(pc.is_in(acc.column("account_id"),
                                pa.array(sorted({a for c in detailed for a in c.account_ids}), pa.string())))
    score_of = {a: (float(s), v) for a, s, v in zip(shown.column("account_id").to_pylist(),
                                                     shown.column("score").to_pylist(),
                                                     shown.column("verdict").to_pylist())}
    truth_by_acc = {a: row for (_, a), row in truth.items()}
    truth_of: dict[str, str] = {}
    if truth:
        for c in listed:
            names = sorted({str(truth_by_acc[a].get("campaign_id") or truth_by_acc[a].get("persona"))
                            for a in c.account_ids if a in truth_by_acc})
            truth_of[c.id] = ", ".join(names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
    lines = D.timelines(detailed, con)
    member_head = ["account", "score", "verdict"] + (["truth", "persona"] if truth else [])
    cards = []
    shared = [G.shared_attributes(c, con) for c in detailed]
    reach = G.attribute_reach(con, shared)
    for i, (c, held) in enumerate(zip(detailed, shared), 1):
        g_div = F.to_div(F.campaign_graph(G.build_graph(c, held, reach, score_of), reach), f"fig-g{i}")
        t = lines.get(c.id)
        t_div = F.to_div(F.campaign_timeline(t), f"fig-t{i}") if t else \
            '<p class="muted">No events given: timeline unavailable.</p>'
        mem = sorted(c.account_ids, key=lambda a: (-score_of.get(a, (0.0, ""))[0], a))[:50]
        rows = []
        for a in mem:
            s, v = score_of.get(a, (float("nan"), "?"))
            r = [f"<code>{H.e(a)}</code>", f"{s:.3f}", H.badge(v)]
            if truth:
                tr = truth_by_acc.get(a) or {}
                r += [H.badge(tr.get("label")) if tr else "?", H.e(tr.get("persona"))]
            rows.append(r)
        cards.append(H.campaign_card(c, i, g_div, t_div, rows, member_head, console_url))
    camp_note = "" if len(detailed) == len(ranked) else \
        f'<p class="note">Graphs and timelines for the top {len(detailed)} campaigns.</p>'
    campaigns_html = (f'<section id="campaigns"><h2>Campaigns ({len(ranked):,})</h2>'
                      + (H.campaign_table(listed, len(ranked), truth_of) + camp_note + "".join(cards)
                         if ranked else '<p class="muted">No coordinated campaign found.</p>') + "</section>")

    views = D.account_views(findings, con, signals, truth, with_provider_truth)
    hot_total = summary.flagged + summary.watched
    accounts_html = H.accounts_section(views, hot_total, with_provider, bool(truth), have_events, console_url)

    sig_names = {str(r.get("signal")) for rlist in acc.column("reasons").to_pylist() for r in (rlist or [])}
    sig_names |= {s for c in findings.campaigns for s in c.signals}
    atlas_html = H.atlas_section(findings.campaigns, sig_names)

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    notes = [
        f"Generated {H.e(now)} by distillguard {H.e(__version__)}; self-contained and works offline "
        "(plotly.js is embedded once).",
        f"Caps keep the page small: {D.MAX_CAMPAIGN_ROWS} campaigns listed, {D.MAX_CAMPAIGNS} drawn, "
        f"{D.MAX_ACCOUNTS} accounts with evidence, {D.MAX_EXAMPLES} prompts per account, "
        f"{G.MAX_GRAPH_MEMBERS} members per graph.",
        "Every string from the data (prompts, client strings, ids, summaries) is shown as escaped text; "
        "prompts are attacker-controlled.",
        "Scores combine the detectors' signals; verdicts use the watch/flag thresholds. "
        "A flag is a lead for review: read the reasons and example prompts before acting.",
    ]
    if not have_events:
        notes.append("No events view was given, so example prompts and campaign timelines are missing.")
    subtitle = f"{summary.accounts:,} accounts · {summary.flagged:,} flagged · {summary.watched:,} watched · " \
               f"{summary.campaigns:,} campaigns"
    doc = H.page(title, subtitle, get_plotlyjs(),
                 [H.summary_section(summary, hist_div, D.missed(findings, truth, with_provider_truth)),
                  H.blind_spots_section(findings.meta.get("blind_spots")), campaigns_html, accounts_html, atlas_html],
                 notes)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(doc, encoding="utf-8")
    return out_path
