"""HTML for each section of the report, built with html.escape on every data string.

Prompts, client strings, account ids and campaign summaries can all be chosen by an
attacker, so nothing from data reaches the page without ``e()``. Links are only ever built
from ATLAS ids we know (distillguard.atlas), never from data.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Iterable

from distillguard import atlas
from distillguard.findings import Campaign
from distillguard.report._data import AccountView, Summary

CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--flag:#c0392b;--watch:#e67e22;--clear:#7f8c8d;--accent:#1f4e79}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--accent);color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}
nav{background:#fff;border-bottom:1px solid var(--line);padding:8px 28px;position:sticky;top:0;z-index:5}
nav a{margin-right:18px;color:var(--accent);text-decoration:none;font-weight:600}
main{max-width:1240px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 10px;font-size:18px;color:var(--accent)}h3{margin:6px 0;font-size:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px;margin-bottom:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;background:var(--bg)}
.card .n{font-size:22px;font-weight:700}.card .l{color:var(--muted);font-size:12px}
.card.flag .n{color:var(--flag)}.card.watch .n{color:var(--watch)}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 7px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600;position:sticky;top:38px}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.badge.flag{background:var(--flag)}.badge.watch{background:var(--watch)}.badge.clear{background:var(--clear)}
.badge.distillation{background:var(--flag)}.badge.benign{background:#2e86c1}
.tag{display:inline-block;border:1px solid var(--line);border-radius:4px;padding:0 5px;margin:1px 2px;font-size:12px;background:var(--bg)}
.muted{color:var(--muted)}.note{color:var(--muted);font-size:12px;margin:4px 0}
.campaign{border-top:3px solid var(--flag);margin-top:18px;padding-top:8px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}@media(max-width:900px){.grid2{grid-template-columns:1fr}}
.fig{width:100%;min-height:300px}
ul.reasons{margin:0;padding-left:16px}ul.reasons li{margin:2px 0}
.sig{font-weight:600}.prompt{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:var(--bg);
border-left:3px solid var(--line);padding:3px 6px;margin:3px 0;white-space:pre-wrap;word-break:break-word}
details summary{cursor:pointer;color:var(--accent)}code{white-space:nowrap}
.exlabel{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.04em;margin-top:6px}
.exmeta{color:var(--muted);font-size:11px;margin-top:4px}#accounts td:last-child{width:52%}
.bar{display:inline-block;height:8px;background:var(--flag);border-radius:2px;vertical-align:middle}
"""


def e(value: Any) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_int(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def fmt_ts(ts: Any) -> str:
    if ts is None or ts == "":
        return "–"
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M UTC")
    text = str(ts)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text


def badge(v: str | None) -> str:
    return f'<span class="badge {e(v) if v in ("flag", "watch", "clear", "distillation", "benign") else ""}">{e(v)}</span>'


def table(head: list[str], rows: Iterable[list[str]], num: frozenset[int] | set[int] = frozenset()) -> str:
    """A table whose cells are already-safe HTML (callers escape data)."""
    th = "".join(f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def technique_link(tid: str) -> str:
    t = atlas.TECHNIQUES.get(tid) or atlas.MITIGATIONS.get(tid)
    if t is None:
        return f'<span class="tag" title="not in distillguard.atlas">{e(tid)}</span>'
    return f'<a class="tag" href="{e(t.url)}" title="{e(t.name)}">{e(t.id)}</a> {e(t.name)}'


def summary_section(s: Summary, hist_div: str, missed: list[tuple[str, float, str, str]] | None = None) -> str:
    share = ""
    if s.requests and s.flagged_requests is not None:
        share = f"{s.flagged_requests / s.requests:.1%}"
    cards = [
        ("accounts scanned", fmt_int(s.accounts), ""), ("flagged", fmt_int(s.flagged), "flag"),
        ("watched", fmt_int(s.watched), "watch"), ("campaigns", fmt_int(s.campaigns), ""),
        ("accounts in campaigns", fmt_int(s.campaign_accounts), ""), ("requests", fmt_int(s.requests), ""),
    ]
    if share:
        cards.append(("requests from flagged/watched", share, ""))
    out = ['<section id="summary"><h2>Summary</h2><div class="cards">']
    out += [f'<div class="card {cls}"><div class="n">{n}</div><div class="l">{e(label)}</div></div>'
            for label, n, cls in cards]
    out.append("</div>")
    out.append(f'<p>Traffic from <b>{e(fmt_ts(s.first_ts))}</b> to <b>{e(fmt_ts(s.last_ts))}</b>.</p>')
    if s.ingest:
        out.append("<h3>Ingest</h3>" + table(
            ["input", "read", "used", "quarantined"],
            ([e(b["kind"]), fmt_int(b["read"]), fmt_int(b["used"]), fmt_int(b["quarantined"])] for b in s.ingest),
            num={1, 2, 3}))
    if s.labels:
        lb = s.labels
        prec = lb["tp_flag"] / (lb["tp_flag"] + lb["fp_flag"]) if lb["tp_flag"] + lb["fp_flag"] else None
        rec = lb["tp_flag"] / lb["distillation"] if lb["distillation"] else None
        fpr = lb["fp_flag"] / lb["benign"] if lb["benign"] else None
        out.append("<h3>Against ground truth (labels given)</h3>" + table(
            ["distillation accounts", "benign accounts", "flagged: true / false", "missed (not flagged)",
             "watch or flag: true / false", "precision @flag", "recall @flag", "benign FPR @flag"],
            [[fmt_int(lb["distillation"]), fmt_int(lb["benign"]), f'{lb["tp_flag"]:,} / {lb["fp_flag"]:,}',
              fmt_int(lb["fn_flag"]), f'{lb["tp_watch"]:,} / {lb["fp_watch"]:,}',
              "–" if prec is None else f"{prec:.3f}", "–" if rec is None else f"{rec:.3f}",
              "–" if fpr is None else f"{fpr:.3%}"]], num=set(range(8))))
        if missed:
            out.append(f"<details><summary>{len(missed)} highest-scoring distillation accounts not flagged</summary>"
                       + table(["account", "score", "verdict", "true campaign / persona"],
                               ([f"<code>{e(a)}</code>", f"{sc:.3f}", badge(v), e(p)] for a, sc, v, p in missed),
                               num={1}) + "</details>")
        if lb["unlabelled"]:
            out.append(f'<p class="note">{lb["unlabelled"]:,} scanned accounts have no label.</p>')
    out.append(hist_div)
    if s.run:
        out.append("<details><summary>Run details</summary>" +
                   table(["key", "value"], ([e(k), e(v)] for k, v in s.run)) + "</details>")
    out.append("</section>")
    return "\n".join(out)


def _infra(c: Campaign, compact: bool = False) -> str:
    """One tag per shared-infrastructure kind, with counts; the commonest values on hover."""
    parts = []
    for kind, v in (c.shared_infrastructure or {}).items():
        label, detail = str(kind), ""
        if isinstance(v, dict):
            nums = [f"{v[k]:,} {k}" for k in ("accounts", "values") if isinstance(v.get(k), int)]
            if isinstance(v.get("share_of_prompts"), float):
                nums.append(f"{v['share_of_prompts']:.0%} of prompts")
            label += (" · " + ", ".join(nums)) if nums else ""
            detail = "; ".join(str(x) for x in (v.get("top") or [])[:5])
        elif isinstance(v, list):
            label += f" · {len(v):,}" if len(v) > 1 else ""
            detail = "; ".join(str(x) for x in v[:5])
        else:
            detail = str(v)
        if compact:
            detail, label = f"{label}: {detail}" if detail else label, str(kind)
        parts.append(f'<span class="tag" title="{e(detail[:300])}">{e(label)}</span>')
    return " ".join(parts) or '<span class="muted">–</span>'


def campaign_table(campaigns: list[Campaign], total: int, truth_of: dict[str, str]) -> str:
    head = ["#", "campaign", "score", "accounts", "requests", "first seen", "last seen", "ATLAS", "shared infrastructure"]
    if truth_of:
        head.append("true campaign(s) of members")
    rows = []
    for i, c in enumerate(campaigns, 1):
        r = [str(i), f'<a href="#c-{e(c.id)}">{e(c.id)}</a>', f"{c.score:.2f}", fmt_int(len(c.account_ids)),
             fmt_int(c.request_count), e(fmt_ts(c.first_seen)), e(fmt_ts(c.last_seen)),
             " ".join(f'<span class="tag" title="{e(atlas.TECHNIQUES[t].name) if t in atlas.TECHNIQUES else ""}">'
                      f"{e(t)}</span>" for t in c.atlas_techniques), _infra(c, compact=True)]
        if truth_of:
            r.append(e(truth_of.get(c.id, "–")))
        rows.append(r)
    note = "" if len(campaigns) == total else \
        f'<p class="note">Showing the {len(campaigns):,} highest-scoring of {total:,} campaigns.</p>'
    return table(head, rows, num={0, 2, 3, 4}) + note


def console_link(console_url: str | None, ref: str | None, provider: str | None = None) -> str:
    """A link to the case holding ``ref`` (campaign or account id) in the analyst console, or ''."""
    if not console_url or not ref or not console_url.startswith(("http://", "https://")):
        return ""
    from urllib.parse import urlencode

    q = {"ref": ref, **({"provider": provider} if provider else {})}
    return f' <a class="console" href="{e(console_url.rstrip("/") + "/find?" + urlencode(q))}">open the case in the console</a>'


def campaign_card(c: Campaign, rank: int, graph_div: str, timeline_div: str,
                  members: list[list[str]], member_head: list[str], console_url: str | None = None) -> str:
    sigs = sorted((c.signals or {}).items(), key=lambda kv: -kv[1])
    sig_html = " ".join(
        f'<span class="tag"><span class="sig">{e(k)}</span> {v:.2f} '
        f'<span class="bar" style="width:{max(2, int(40 * min(max(v, 0), 1)))}px"></span></span>'
        for k, v in sigs) or '<span class="muted">–</span>'
    techs = "<br>".join(technique_link(t) for t in c.atlas_techniques) or '<span class="muted">–</span>'
    facts = table(["score", "accounts", "requests", "first seen", "last seen", "provider"],
                  [[f"{c.score:.2f}", fmt_int(len(c.account_ids)), fmt_int(c.request_count), e(fmt_ts(c.first_seen)),
                    e(fmt_ts(c.last_seen)), e(c.provider or "–")]], num={0, 1, 2})
    shown = "" if len(members) >= len(c.account_ids) else \
        f'<p class="note">Top {len(members):,} of {len(c.account_ids):,} members by score.</p>'
    return f"""<div class="campaign" id="c-{e(c.id)}">
<h3>#{rank} · {e(c.id)}{console_link(console_url, c.id, c.provider)}</h3>
<p>{e(c.summary) or '<span class="muted">no summary</span>'}</p>
{facts}
<p><b>Signals:</b> {sig_html}</p>
<p><b>Shared infrastructure:</b> {_infra(c)}</p>
<p><b>ATLAS techniques:</b><br>{techs}</p>
<div class="grid2"><div>{graph_div}</div><div>{timeline_div}</div></div>
<details><summary>Members</summary>{table(member_head, members, num={1})}{shown}</details>
</div>"""


def _reasons(v: AccountView) -> str:
    if not v.reasons:
        return '<span class="muted">no reasons recorded</span>'
    items = []
    for r in v.reasons:
        val, w = r.get("value"), r.get("weight")
        nums = f'{val:.2f}' if isinstance(val, (int, float)) else "–"
        if isinstance(w, (int, float)):
            nums += f" × w {w:g}"
        items.append(f'<li><span class="sig">{e(r.get("signal"))}</span> <span class="muted">{nums}</span> — '
                     f'{e(r.get("detail"))}</li>')
    return f'<ul class="reasons">{"".join(items)}</ul>'


def _examples(v: AccountView, have_events: bool) -> str:
    if not v.examples:
        return "" if have_events else '<div class="exlabel">example prompts: no events given</div>'
    rows = []
    for x in v.examples:
        meta = f'{e(x.request_id)} · {e(fmt_ts(x.ts))}' + (f' · from {e(x.signal)}' if x.signal else "")
        rows.append(f'<div class="exmeta">{meta}</div><div class="prompt">{e(x.prompt)}</div>')
    return f'<div class="exlabel">example prompts</div>{"".join(rows)}'


def accounts_section(views: list[AccountView], total: int, with_provider: bool, with_truth: bool,
                     have_events: bool, console_url: str | None = None) -> str:
    head = ["account"] + (["provider"] if with_provider else []) + ["score", "verdict", "campaign", "first flagged"]
    if with_truth:
        head += ["truth", "persona / true campaign"]
    head += ["evidence: reasons and example prompts"]
    rows = []
    for v in views:
        camp = f'<a href="#c-{e(v.campaign_id)}">{e(v.campaign_id)}</a>' if v.campaign_id else "–"
        r = [f"<code>{e(v.account_id)}</code>{console_link(console_url, v.account_id, v.provider)}"]
        r += [e(v.provider)] if with_provider else []
        r += [f"{v.score:.3f}", badge(v.verdict), camp, e(fmt_ts(v.first_flag_ts))]
        if with_truth:
            t = v.truth or {}
            r += [badge(t.get("label")) if t else '<span class="muted">?</span>',
                  e(" / ".join(str(x) for x in (t.get("persona"), t.get("campaign_id")) if x))]
        r += [_reasons(v) + _examples(v, have_events)]
        rows.append(r)
    note = f'<p class="note">{total:,} accounts are flagged or watched'
    note += "." if len(views) == total else f"; the {len(views):,} most urgent (flagged first, then by score) are shown."
    note += " Prompts are cut to 300 characters and shown as text, never as HTML.</p>"
    body = table(head, rows, num={1 + int(with_provider)}) if rows else '<p class="muted">No account is flagged or watched.</p>'
    return f'<section id="accounts"><h2>Account evidence</h2>{note}{body}</section>'


def atlas_section(campaigns: list[Campaign], signal_names: set[str]) -> str:
    by_tech: dict[str, list[Campaign]] = {}
    for c in campaigns:
        for t in c.atlas_techniques:
            by_tech.setdefault(t, []).append(c)
    ids = list(dict.fromkeys(list(atlas.ALWAYS) + sorted(by_tech)))
    rows = []
    for tid in ids:
        t = atlas.TECHNIQUES.get(tid)
        evidence = sorted(s for s, ts in atlas.BY_SIGNAL.items() if tid in ts)
        seen = [s for s in evidence if s in signal_names]
        cs = by_tech.get(tid, [])
        rows.append([technique_link(tid), e(t.tactic if t and t.tactic else "–"), fmt_int(len(cs)),
                     fmt_int(len({a for c in cs for a in c.account_ids})),
                     " ".join(f'<span class="tag">{e(s)}</span>' for s in evidence) or
                     '<span class="muted">every campaign (model extraction through the API)</span>',
                     " ".join(f'<span class="tag">{e(s)}</span>' for s in seen) or "–"])
    mit = "".join(f"<li>{technique_link(m)}</li>" for m in atlas.MITIGATIONS)
    cs_id, cs_name = atlas.CASE_STUDY
    return f"""<section id="atlas"><h2>MITRE ATLAS mapping</h2>
<p>Each campaign is mapped to techniques of MITRE ATLAS {e(atlas.ATLAS_VERSION)} from the evidence that fired in it.
The public case study <a href="https://atlas.mitre.org/studies/{e(cs_id)}">{e(cs_id)}</a> ({e(cs_name)}) describes the
same behaviour.</p>
{table(["technique", "tactic", "campaigns", "accounts", "implied by signals", "signals seen in this run"], rows, num={2, 3})}
<h3>Relevant mitigations</h3><ul>{mit}</ul></section>"""


def page(title: str, subtitle: str, plotly_js: str, sections: list[str], notes: list[str]) -> str:
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (("summary", "Summary"), ("campaigns", "Campaigns"),
                                                          ("accounts", "Accounts"), ("atlas", "ATLAS")))
    foot = "".join(f"<li>{n}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<title>{e(title)}</title><style>{CSS}</style>
<script>{plotly_js}</script></head>
<body><header><h1>{e(title)}</h1><p>{e(subtitle)}</p></header><nav>{nav}</nav><main>
{"".join(sections)}
<section id="notes"><h2>About this report</h2><ul>{foot}</ul></section>
</main></body></html>
"""


def blind_spots_section(blind: dict[str, Any] | None) -> str:
    """Which signals ran blind or weakened on this input (findings meta ``blind_spots``)."""
    if not blind:
        return ""
    notices = blind.get("notices") or []
    if not notices:
        return ('<section id="blind-spots"><h2>Blind spots</h2><p class="muted">None: every signal had the '
                'columns and tables it reads.</p></section>')
    items = "".join(f"<li>{e(n)}</li>" for n in notices)
    def status(s: dict[str, Any]) -> str:
        css = "flag" if s.get("status") == "blind" else "watch"
        return f'<span class="badge {css}">{e(s.get("status"))}</span>'

    rows = [[f"<code>{e(s.get('signal'))}</code>", status(s), e(s.get("why"))] for s in blind.get("signals") or []]
    tbl = table(["signal", "status", "why"], rows) if rows else ""
    return ('<section id="blind-spots"><h2>Blind spots</h2>'
            '<p class="note">These logs lack data some signals read, so the scan could not see everything: '
            'scores of the affected signals are lower than they would be with full logs.</p>'
            f"<ul>{items}</ul>{tbl}</section>")
