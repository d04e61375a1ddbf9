"""Campaigns: "each account clean alone, guilty together".

``find_campaigns(ctx, account_scores, settings)`` builds the rarity-weighted account graph
(graph.py), finds Leiden communities (cluster.py), scores each from its members' evidence
and its shape (score.py) and describes the ones above ``settings.campaigns
.report_threshold`` as :class:`distillguard.findings.Campaign` objects. Members of
reported campaigns are listed in ``membership`` so decide/ can let them inherit risk.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.atlas import techniques_for
from distillguard.campaigns.cluster import communities, strong_ties
from distillguard.campaigns.graph import INFRA_KINDS, KIND_WEIGHTS, AccountGraph, GraphParams, build_graph, collect_attributes
from distillguard.campaigns.graph import DISPOSABLE_DOMAINS, _has_table
from distillguard.campaigns.score import campaign_id, kind_coverage, member_evidence, shape_of, template_concentration
from distillguard.config import Settings
from distillguard.detectors.base import ScanContext
from distillguard.features.templates import WorldTemplates, world_templates
from distillguard.findings import Campaign

MEMBERSHIP_SCHEMA = pa.schema([pa.field("account_id", pa.string(), nullable=False),
                               pa.field("campaign_id", pa.string(), nullable=False),
                               pa.field("campaign_score", pa.float64(), nullable=False),
                               pa.field("strong_tie", pa.bool_(), nullable=False)])
KIND_LABELS = {"payment": "payment card", "ip": "IP address", "subnet": "subnet", "signup_subnet": "signup subnet",
               "user_agent": "client string", "email_pattern": "email pattern", "disposable_email": "disposable domain",
               "signup_burst": "signup burst"}


@dataclass(frozen=True)
class CampaignResult:
    """Reported campaigns (highest score first) and the membership of their accounts."""

    campaigns: list[Campaign]
    membership: pa.Table
    considered: int = 0  # communities scored (reported or not)
    stats: dict[str, Any] = field(default_factory=dict)


def _empty(stats: dict[str, Any] | None = None) -> CampaignResult:
    return CampaignResult([], MEMBERSHIP_SCHEMA.empty_table(), 0, stats or {})


def find_campaigns(ctx: ScanContext, account_scores: pa.Table, settings: Settings) -> CampaignResult:
    """Find, score and describe coordinated account groups (see module docstring)."""
    cfg = settings.campaigns
    if not cfg.enabled:
        return _empty()
    params = GraphParams(weights={**KIND_WEIGHTS, **cfg.weights}, max_bucket=cfg.max_bucket,
                         reference_population=cfg.reference_population)
    tpl_cfg = settings.detectors.get("templating")
    tp = dict(tpl_cfg.params) if tpl_cfg else {}
    templates = world_templates(ctx.con, per_account=int(tp.get("per_account", cfg.per_account)),
                                min_tokens=int(tp.get("min_tokens", 8)),
                                min_per_template=int(tp.get("min_per_template", 3)),
                                threads=settings.engine.threads, cache=ctx.artefacts)
    attrs = collect_attributes(ctx.con, templates, params)
    scored = account_scores.column("account_id").to_pylist() if account_scores.num_rows else []
    accounts = sorted(set(scored) | set(attrs.column("account_id").to_pylist()))
    graph = build_graph(attrs, accounts, params)
    groups = communities(graph, resolution=cfg.resolution, seed=cfg.seed, min_size=cfg.min_size)
    stats = {"accounts": len(accounts), "edges": graph.n_edges, "communities": len(groups)}
    if not groups:
        return _empty(stats)
    return _describe(ctx.con, graph, groups, templates, account_scores, settings, stats)


def _member_rows(group_of: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping rows by their owner's group, and each group's start offset.

    Rows of group g are ``order[starts[g]:starts[g + 1]]``; rows outside any group sort last.
    """
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    g = group_of[owner] if len(owner) else np.zeros(0, np.int64)
    key = np.where(g < 0, n_groups, g)
    order = np.argsort(key, kind="stable")
    starts = np.searchsorted(key[order], np.arange(n_groups + 1))
    return order, starts


def _describe(con: duckdb.DuckDBPyConnection, graph: AccountGraph, groups: list[np.ndarray],
              templates: WorldTemplates, account_scores: pa.Table, settings: Settings,
              stats: dict[str, Any]) -> CampaignResult:
    cfg = settings.campaigns
    accounts = graph.accounts
    n = len(accounts)
    group_of = np.full(n, -1, dtype=np.int64)
    for gi, grp in enumerate(groups):
        group_of[grp] = gi
    score_of = np.zeros(n)
    sig_cols = [c for c in account_scores.column_names if c.startswith("s_")]
    sig_of = np.zeros((n, len(sig_cols)))
    if account_scores.num_rows:
        pos = {a: i for i, a in enumerate(accounts)}
        rows = np.array([pos[a] for a in account_scores.column("account_id").to_pylist()], dtype=np.int64)
        score_of[rows] = account_scores.column("score").to_numpy(zero_copy_only=False)
        for j, c in enumerate(sig_cols):
            sig_of[rows, j] = account_scores.column(c).to_numpy(zero_copy_only=False)
    mu = float(np.median(account_scores.column("score").to_numpy(zero_copy_only=False))) \
        if account_scores.num_rows else 0.0
    cheap_of = _cheap_identities(con, accounts)
    activity, hourly_sync = _activity(con, accounts, group_of)
    # template sample rows per group
    s = templates.sample
    acc_index = {a: i for i, a in enumerate(accounts)}
    ext_group = np.append(group_of, -1)  # index n: "not in the graph"
    s_owner = (np.array([acc_index.get(a, n) for a in s.accounts], dtype=np.int64)[s.account]
               if s.size else np.zeros(0, np.int64))
    s_order, s_starts = _member_rows(ext_group, s_owner)
    lab_ok = templates.labels >= 0
    world_acc = np.zeros(int(templates.labels.max()) + 1 if lab_ok.any() else 0, dtype=np.int64)
    if lab_ok.any():
        uniq_pairs = np.unique(np.stack([templates.labels[lab_ok], s.account[lab_ok]]), axis=1)
        world_acc = np.bincount(uniq_pairs[0], minlength=len(world_acc))
    inner = group_of[graph.src] == group_of[graph.dst]
    e_owner = np.where(inner, graph.src, n)  # edges leaving their group belong to no group
    e_order, e_starts = _member_rows(ext_group, e_owner)
    a_idx = graph.attributes.column("account_idx").to_numpy()
    a_order, a_starts = _member_rows(ext_group, a_idx)
    a_kind = np.asarray(graph.attributes.column("kind").to_pylist(), dtype=object)
    a_value = np.asarray(graph.attributes.column("value").to_pylist(), dtype=object)
    campaigns: list[Campaign] = []
    for gi, members in enumerate(groups):
        m = member_evidence(score_of[members])
        rows = s_order[s_starts[gi]:s_starts[gi + 1]] if s.size else np.zeros(0, np.int64)
        t, n_tpl, examples, tpl_users = template_concentration(templates.labels[rows], s.account[rows], s.raw_hash[rows],
                                                    s.request_id.take(pa.array(rows)), len(members), world_acc)
        coverage = kind_coverage(graph, e_order[e_starts[gi]:e_starts[gi + 1]], len(members))
        coverage["sync_hours"] = max(coverage.get("sync_hours", 0.0), hourly_sync.get(gi, 0.0))
        shape = shape_of(m, t, coverage, float(cheap_of[members].mean()), len(members), mu=mu,
                         watch=settings.scoring.watch)
        score = shape.score
        if score < cfg.report_threshold:
            continue
        arows = a_order[a_starts[gi]:a_starts[gi + 1]]
        infra = _shared_infrastructure(a_kind[arows], a_value[arows], a_idx[arows], coverage, len(members),
                                       GraphParams().burst_minutes)
        if n_tpl:
            infra["template"] = {"accounts": tpl_users, "values": n_tpl, "share_of_prompts": round(t, 3)}
        sig_means = {c[2:]: float(sig_of[members, j].mean()) for j, c in enumerate(sig_cols)}
        signals = {"member_score_mean": float(score_of[members].mean()), "member_evidence": m,
                   "template_concentration": t, "synchronisation": shape.s, "cheap_identities": shape.c,
                   "identity_ties": shape.identity, "network_ties": shape.network, "client_ties": shape.client,
                   "gate": shape.gate, **{f"signal_{k}": v for k, v in sig_means.items()}}
        fired = [k for k, v in sig_means.items() if v >= 0.3] + ["many_accounts"]
        if t >= 0.3:
            fired.append("templating")
        if coverage.get("subnet", 0) >= 0.5 or coverage.get("ip", 0) >= 0.5:
            fired.append("proxy_infrastructure")
        if shape.c >= 0.5 or coverage.get("payment", 0) >= 0.5:
            fired.append("metadata")
        ids = sorted(accounts[i] for i in members)
        act = activity.get(gi, (None, None, 0, []))
        ex = (examples + [r for r in act[3] if r not in examples])[:5]
        campaigns.append(Campaign(
            id=campaign_id(ids), account_ids=ids, score=round(score, 4),
            first_seen=act[0].isoformat() if act[0] else None, last_seen=act[1].isoformat() if act[1] else None,
            request_count=int(act[2]), signals={k: round(v, 4) for k, v in signals.items()},
            shared_infrastructure=infra, example_request_ids=ex, atlas_techniques=techniques_for(fired),
            summary=_summary(len(ids), infra, t, shape.s, shape.c, int(act[2]), float(score_of[members].mean()))))
    campaigns.sort(key=lambda c: (-c.score, c.id))
    strong = strong_ties(graph, group_of)
    acc_ids, cids, cscores, ties = [], [], [], []
    for c in campaigns:
        for a in c.account_ids:
            acc_ids.append(a); cids.append(c.id); cscores.append(c.score); ties.append(bool(strong[acc_index[a]]))
    membership = pa.table({"account_id": acc_ids, "campaign_id": cids, "campaign_score": cscores,
                           "strong_tie": ties}, schema=MEMBERSHIP_SCHEMA)
    return CampaignResult(campaigns, membership, len(groups), stats)


def _shared_infrastructure(kinds: np.ndarray, values: np.ndarray, owners: np.ndarray, coverage: dict[str, float],
                           size: int, burst_minutes: int = 10) -> dict[str, Any]:
    """Per infrastructure kind: members tied by it, distinct shared values, the commonest (provider-local)."""
    out: dict[str, Any] = {}
    for kind in INFRA_KINDS:
        sel = kinds == kind
        if not sel.any() or coverage.get(kind, 0.0) == 0.0:
            continue
        holders: dict[str, set[int]] = {}
        for v, o in zip(values[sel].tolist(), owners[sel].tolist()):
            shown = v.split("|")[0]
            if kind == "signup_burst":  # bucket number → start of the burst
                shown = datetime.fromtimestamp(int(v) * burst_minutes * 60, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
            holders.setdefault(shown, set()).add(o)
        shared = Counter({v: len(h) for v, h in holders.items() if len(h) >= 2})
        if not shared:
            continue
        out[kind] = {"accounts": round(coverage[kind] * size), "values": len(shared),
                     "top": [f"{v} ({c})" for v, c in shared.most_common(3)]}
    return out


def _cheap_identities(con: duckdb.DuckDBPyConnection, accounts: list[str]) -> np.ndarray:
    """1 per account on a disposable domain, or unverified and used within 2 days of signup."""
    out = np.zeros(len(accounts))
    if not _has_table(con, "accounts"):
        return out
    rows = con.sql("""select a.account_id, a.verified, a.email,
                             date_diff('hour', a.created_at, f.first_ts) as age_h
                      from accounts a left join (select account_id, min(ts) as first_ts from events group by 1) f
                      using (account_id)""").fetchall()
    pos = {a: i for i, a in enumerate(accounts)}
    for acc, verified, email, age_h in rows:
        i = pos.get(acc)
        if i is None:
            continue
        domain = (email or "").lower().rpartition("@")[2]
        young = age_h is not None and age_h < 48
        out[i] = float(domain in DISPOSABLE_DOMAINS or (verified is not True and young))
    return out


def _activity(con: duckdb.DuckDBPyConnection, accounts: list[str], group_of: np.ndarray
              ) -> tuple[dict[int, tuple[Any, Any, int, list[str]]], dict[int, float]]:
    """Per group: (first_seen, last_seen, requests, a few request ids), and hourly synchronisation.

    Synchronisation is the share of members whose hourly activity vector correlates
    (cosine ≥ 0.6) with the rest of the group's: accounts driven by one scheduler work
    the same hours; people in one place do not keep identical hours for days.
    """
    sel = np.flatnonzero(group_of >= 0)
    tab = pa.table({"account_id": [accounts[i] for i in sel.tolist()], "grp": group_of[sel]})
    con.register("_dg_campaign_members", tab)
    try:
        rows = con.sql("""select m.grp, min(e.ts), max(e.ts), count(*),
                                 list(e.request_id order by hash(e.request_id), e.request_id)[1:5]
                          from events e join _dg_campaign_members m using (account_id) group by 1""").fetchall()
        hours = con.sql("""select m.grp, e.account_id, epoch(e.ts)::bigint // 3600 as hr, count(*)::double as n
                           from events e join _dg_campaign_members m using (account_id)
                           group by 1, 2, 3 order by 1, 2, 3""").fetchall()
    finally:
        con.unregister("_dg_campaign_members")
    info = {int(g): (lo, hi, int(c), list(ids or [])) for g, lo, hi, c, ids in rows}
    by_group: dict[int, dict[str, dict[int, float]]] = {}
    for g, acc, hr, n in hours:
        by_group.setdefault(int(g), {}).setdefault(acc, {})[int(hr)] = n
    sync: dict[int, float] = {}
    for g, members in by_group.items():
        if len(members) < 2:
            continue
        hrs = sorted({h for v in members.values() for h in v})
        col = {h: j for j, h in enumerate(hrs)}
        mat = np.zeros((len(members), len(hrs)))
        for i, v in enumerate(members.values()):
            for h, n in v.items():
                mat[i, col[h]] = n
        mat /= np.linalg.norm(mat, axis=1, keepdims=True)
        rest = mat.sum(axis=0, keepdims=True) - mat
        rest /= np.maximum(np.linalg.norm(rest, axis=1, keepdims=True), 1e-12)
        sync[g] = float(((mat * rest).sum(axis=1) >= 0.6).mean())
    return info, sync


def _plural(label: str, n: int) -> str:
    if n == 1:
        return label
    return label + ("es" if label.endswith(("s", "sh", "ch")) else "s")


def _summary(size: int, infra: dict[str, Any], t: float, sync: float, cheap: float, requests: int,
             mean_score: float) -> str:
    parts = [f"{v['values']} {_plural(KIND_LABELS.get(k, k), v['values'])}" for k, v in infra.items()
             if k in KIND_LABELS]
    text = f"{size} accounts"
    if parts:
        text += " sharing " + ", ".join(parts)
    if t > 0:
        k = infra.get("template", {}).get("values", 0)
        text += f"; {t:.0%} of their prompts fill {k} shared {_plural('template', k)}"
    if sync >= 0.5:
        text += f"; {sync:.0%} start or work in sync"
    if cheap >= 0.5:
        text += f"; {cheap:.0%} cheap identities"
    return text + f"; {requests:,} requests; mean account score alone {mean_score:.2f}"


__all__ = ["CampaignResult", "MEMBERSHIP_SCHEMA", "find_campaigns"]
