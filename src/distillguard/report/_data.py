"""What the report shows, gathered as plain Python values before any HTML is written.

Everything here is a pure function of the findings, the optional labels and the optional
DuckDB ``events`` (and ``accounts``) views. Queries touch only the few accounts and request
ids the page renders, so building a report costs a handful of scans of ``events`` however
large it is. Nothing in this module escapes text: escaping happens once, in _html.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.findings import Campaign, Findings

MAX_CAMPAIGNS = 25          # campaigns rendered with graph and timeline
MAX_CAMPAIGN_ROWS = 200     # campaigns listed in the ranking table
MAX_ACCOUNTS = 200          # flagged/watched accounts with evidence
MAX_EXAMPLES = 3            # example prompts per account
MAX_TIMELINE_SERIES = 8     # members drawn separately in a timeline; the rest are summed
PROMPT_CHARS = 300          # example prompts are cut to this many characters

_VERDICT_RANK = {"flag": 0, "watch": 1, "clear": 2}


@dataclass
class Summary:
    """Headline counts; None where the inputs cannot tell."""

    accounts: int
    flagged: int
    watched: int
    campaigns: int
    campaign_accounts: int
    requests: int | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    flagged_requests: int | None = None
    ingest: list[dict[str, Any]] = field(default_factory=list)
    run: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, int] | None = None


@dataclass
class Example:
    request_id: str
    ts: datetime | None
    prompt: str
    signal: str | None


@dataclass
class AccountView:
    """One flagged or watched account as the evidence table shows it."""

    account_id: str
    provider: str | None
    score: float
    verdict: str
    campaign_id: str | None
    first_flag_ts: datetime | None
    reasons: list[dict[str, Any]]
    examples: list[Example] = field(default_factory=list)
    truth: dict[str, Any] | None = None


@dataclass
class Timeline:
    bucket: str                                      # "hour" or "day"
    series: dict[str, list[tuple[datetime, int]]]    # member (or "other members") -> counts


def truncate(text: str | None, n: int = PROMPT_CHARS) -> str:
    """Cut text to n characters (before escaping, so no entity is split)."""
    if not text:
        return ""
    text = " ".join(text.split()) if len(text) < 20 * n else " ".join(text[: 20 * n].split())
    return text if len(text) <= n else text[: n - 1] + "…"


def has_view(con: duckdb.DuckDBPyConnection | None, name: str) -> bool:
    """True when con can read a table or view called name."""
    if con is None:
        return False
    try:
        con.execute(f"SELECT * FROM {name} LIMIT 0").fetchall()
    except duckdb.Error:
        return False
    return True


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    cur = con.execute(f"SELECT * FROM {name} LIMIT 0")
    names = {d[0] for d in cur.description}
    cur.fetchall()
    return names


class _Registered:
    """Register small Arrow tables on a caller's connection and always unregister them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> None:
        self.con, self.tables = con, tables

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        for name, t in self.tables.items():
            self.con.register(name, t)
        return self.con

    def __exit__(self, *exc: object) -> None:
        for name in self.tables:
            self.con.unregister(name)


# ---------------------------------------------------------------- labels


def label_index(labels: pa.Table | None, with_provider: bool) -> dict[tuple[str | None, str], dict[str, Any]]:
    """(provider or None, account_id) -> label row, for joining truth onto findings."""
    if labels is None:
        return {}
    out: dict[tuple[str | None, str], dict[str, Any]] = {}
    for row in labels.to_pylist():
        key = (row.get("provider") if with_provider else None, str(row["account_id"]))
        out[key] = row
    return out


# ---------------------------------------------------------------- summary


def _ingest_blocks(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Ingest counts wherever the scan put them in meta (a dict with read/used/quarantined)."""
    found: list[dict[str, Any]] = []

    def visit(name: str, v: Any, depth: int) -> None:
        if isinstance(v, dict):
            if {"read", "used", "quarantined"} <= v.keys():
                found.append({"kind": v.get("kind") or name, "read": v["read"], "used": v["used"],
                              "quarantined": v["quarantined"]})
            elif depth < 2:
                for k, sub in v.items():
                    visit(str(k), sub, depth + 1)

    for k, v in meta.items():
        visit(str(k), v, 0)
    return found


def _run_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Scalar meta entries (detector, since, until, version...) as text pairs."""
    items = []
    for k, v in meta.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            items.append((str(k), "–" if v is None else str(v)))
        elif isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v) and len(v) <= 20:
            items.append((str(k), ", ".join(str(x) for x in v)))
        elif isinstance(v, dict) and v and len(v) <= 20 and \
                all(isinstance(x, (str, int, float, bool)) or x is None for x in v.values()):
            items.append((str(k), ", ".join(f"{a}: {b:g}" if isinstance(b, float) else f"{a}: {b}"
                                           for a, b in v.items())))
    return items[:40]


def summarise(findings: Findings, con: duckdb.DuckDBPyConnection | None,
              truth: dict[tuple[str | None, str], dict[str, Any]], with_provider: bool) -> Summary:
    acc = findings.accounts
    verdicts = acc.column("verdict").to_pylist()
    s = Summary(
        accounts=acc.num_rows, flagged=verdicts.count("flag"), watched=verdicts.count("watch"),
        campaigns=len(findings.campaigns),
        campaign_accounts=len({a for c in findings.campaigns for a in c.account_ids}),
        ingest=_ingest_blocks(findings.meta), run=_run_items(findings.meta),
    )
    if has_view(con, "events"):
        assert con is not None
        n, lo, hi = con.execute("SELECT count(*), min(ts), max(ts) FROM events").fetchall()[0]
        s.requests, s.first_ts, s.last_ts = int(n), lo, hi
        hot = acc.filter(pc.is_in(acc.column("verdict"), pa.array(["flag", "watch"]))).select(["account_id"])
        with _Registered(con, _dg_hot=hot):
            s.flagged_requests = int(con.execute(
                "SELECT count(*) FROM events WHERE account_id IN (SELECT account_id FROM _dg_hot)").fetchall()[0][0])
    else:
        seen = [c.first_seen for c in findings.campaigns if c.first_seen] + \
               [c.last_seen for c in findings.campaigns if c.last_seen]
        if seen:
            s.first_ts, s.last_ts = min(seen), max(seen)  # type: ignore[assignment]
    if truth:
        s.labels = confusion(findings, truth, with_provider)
    return s


def confusion(findings: Findings, truth: dict[tuple[str | None, str], dict[str, Any]],
              with_provider: bool) -> dict[str, int]:
    """Counts of true/false positives at 'flag' and at 'watch or flag' against ground truth."""
    out = {"tp_flag": 0, "fp_flag": 0, "fn_flag": 0, "tp_watch": 0, "fp_watch": 0, "distillation": 0,
           "benign": 0, "unlabelled": 0}
    provs = findings.accounts.column("provider").to_pylist() if with_provider else [None] * findings.accounts.num_rows
    for aid, prov, v in zip(findings.accounts.column("account_id").to_pylist(), provs,
                            findings.accounts.column("verdict").to_pylist()):
        row = truth.get((prov, aid))
        if row is None:
            out["unlabelled"] += 1
            continue
        bad = row.get("label") == "distillation"
        out["distillation" if bad else "benign"] += 1
        if v == "flag":
            out["tp_flag" if bad else "fp_flag"] += 1
        elif bad:
            out["fn_flag"] += 1
        if v in ("flag", "watch"):
            out["tp_watch" if bad else "fp_watch"] += 1
    return out


def score_histogram(scores: list[float], groups: list[str], bins: int = 50) -> dict[str, list[int]]:
    """Counts per score bin (0..1) for each group; pre-binned so the page stays small."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    arr = np.asarray(scores, dtype=float)
    g = np.asarray(groups, dtype=object)
    out: dict[str, list[int]] = {}
    for name in dict.fromkeys(groups):
        counts, _ = np.histogram(arr[g == name], bins=edges)
        out[str(name)] = [int(c) for c in counts]
    return out


# ---------------------------------------------------------------- accounts


def select_accounts(findings: Findings, limit: int = MAX_ACCOUNTS) -> list[dict[str, Any]]:
    """Flagged then watched accounts, highest score first, at most limit."""
    acc = findings.accounts
    rows = acc.filter(pc.is_in(acc.column("verdict"), pa.array(["flag", "watch"]))).to_pylist()
    rows.sort(key=lambda r: (_VERDICT_RANK[r["verdict"]], -r["score"], r["account_id"]))
    return rows[:limit]


def example_ids(rows: list[dict[str, Any]], findings: Findings,
                signals: pa.Table | None) -> dict[str, list[tuple[str, str | None]]]:
    """account_id -> [(request_id, signal)] from the evidence the detectors attached.

    Sources, in order: an ``examples``/``example_request_ids`` column in accounts.parquet,
    the per-signal ``examples`` of signals.parquet (strongest signal first).
    """
    wanted = {r["account_id"] for r in rows}
    out: dict[str, list[tuple[str, str | None]]] = {a: [] for a in wanted}

    def add(aid: str, rid: Any, sig: str | None) -> None:
        lst = out.get(aid)
        if lst is not None and rid and len(lst) < MAX_EXAMPLES and all(rid != x for x, _ in lst):
            lst.append((str(rid), sig))

    for col in ("examples", "example_request_ids"):
        if col in findings.accounts.column_names:
            for r in rows:
                for rid in r.get(col) or []:
                    add(r["account_id"], rid, None)
    if signals is not None and {"account_id", "examples"} <= set(signals.column_names):
        mine = signals.filter(pc.is_in(signals.column("account_id"), pa.array(sorted(wanted), pa.string())))
        per: dict[str, list[dict[str, Any]]] = {}
        for r in mine.to_pylist():
            if r.get("examples"):
                per.setdefault(r["account_id"], []).append(r)
        for aid, sig_rows in per.items():
            # one example from each of the strongest signals first, so the prompts show varied evidence
            sig_rows.sort(key=lambda r: (-(r.get("score") or 0.0), str(r.get("signal"))))
            depth = max(len(r["examples"]) for r in sig_rows)
            for i in range(depth):
                for r in sig_rows:
                    if i < len(r["examples"]):
                        add(aid, r["examples"][i], r.get("signal"))
    return out


def fetch_examples(con: duckdb.DuckDBPyConnection, ids: dict[str, list[tuple[str, str | None]]],
                   k: int = MAX_EXAMPLES) -> dict[str, list[Example]]:
    """Example prompts from events: the detectors' request ids, else a deterministic sample."""
    pairs = [(a, rid, sig) for a, lst in ids.items() for rid, sig in lst]
    want = pa.table({"account_id": [p[0] for p in pairs], "request_id": [p[1] for p in pairs],
                     "signal": [p[2] for p in pairs]},
                    schema=pa.schema([("account_id", pa.string()), ("request_id", pa.string()), ("signal", pa.string())]))
    short = [a for a, lst in ids.items() if len(lst) < k]      # topped up with a deterministic sample
    bare = pa.table({"account_id": short}, schema=pa.schema([("account_id", pa.string())]))
    out: dict[str, list[Example]] = {a: [] for a in ids}
    with _Registered(con, _dg_want=want, _dg_bare=bare):
        named = con.execute(
            "SELECT w.account_id, e.request_id, e.ts, e.prompt, w.signal FROM _dg_want w "
            "JOIN events e ON e.request_id = w.request_id AND e.account_id = w.account_id").fetchall()
        sampled = con.execute(
            "SELECT account_id, request_id, ts, prompt, NULL FROM ("
            " SELECT account_id, request_id, ts, prompt, row_number() OVER "
            "  (PARTITION BY account_id ORDER BY hash(request_id)) AS rn"
            " FROM events WHERE account_id IN (SELECT account_id FROM _dg_bare)) WHERE rn <= ?"
            " ORDER BY account_id, ts", [k]).fetchall()
    order = {(a, rid): i for a, lst in ids.items() for i, (rid, _) in enumerate(lst)}
    named.sort(key=lambda r: order.get((r[0], r[1]), 0))
    for aid, rid, ts, prompt, sig in named + sampled:
        if len(out[aid]) < k and all(x.request_id != rid for x in out[aid]):
            out[aid].append(Example(str(rid), ts, truncate(prompt), sig))
    return out


def account_views(findings: Findings, con: duckdb.DuckDBPyConnection | None, signals: pa.Table | None,
                  truth: dict[tuple[str | None, str], dict[str, Any]], with_provider: bool) -> list[AccountView]:
    rows = select_accounts(findings)
    examples: dict[str, list[Example]] = {}
    if has_view(con, "events") and rows:
        assert con is not None
        examples = fetch_examples(con, example_ids(rows, findings, signals))
    views = []
    for r in rows:
        reasons = sorted(r.get("reasons") or [], key=lambda x: -((x.get("value") or 0) * (x.get("weight") or 0)))
        prov = r.get("provider") if with_provider else None
        views.append(AccountView(r["account_id"], prov, float(r["score"]), r["verdict"], r.get("campaign_id"),
                                 r.get("first_flag_ts"), reasons, examples.get(r["account_id"], []),
                                 truth.get((prov, r["account_id"])) if truth else None))
    return views


def missed(findings: Findings, truth: dict[tuple[str | None, str], dict[str, Any]], with_provider: bool,
           limit: int = 20) -> list[tuple[str, float, str, str]]:
    """Distillation accounts the verdict did not flag, highest score first: (id, score, verdict, persona)."""
    if not truth:
        return []
    acc = findings.accounts
    provs = acc.column("provider").to_pylist() if with_provider else [None] * acc.num_rows
    out = []
    for aid, prov, sc, v in zip(acc.column("account_id").to_pylist(), provs, acc.column("score").to_pylist(),
                                acc.column("verdict").to_pylist()):
        row = truth.get((prov, aid))
        if v != "flag" and row is not None and row.get("label") == "distillation":
            out.append((aid, float(sc), v, str(row.get("campaign_id") or row.get("persona") or "")))
    out.sort(key=lambda r: (-r[1], r[0]))
    return out[:limit]


# ---------------------------------------------------------------- campaigns


def rank_campaigns(campaigns: list[Campaign]) -> list[Campaign]:
    return sorted(campaigns, key=lambda c: (-c.score, -len(c.account_ids), c.id))


def timelines(campaigns: list[Campaign], con: duckdb.DuckDBPyConnection | None) -> dict[str, Timeline]:
    """Requests per hour (per day for spans over 14 days) for each campaign's busiest members."""
    if not has_view(con, "events") or not campaigns:
        return {}
    assert con is not None
    pairs = [(c.id, a) for c in campaigns for a in c.account_ids]
    mt = pa.table({"campaign_id": [p[0] for p in pairs], "account_id": [p[1] for p in pairs]},
                  schema=pa.schema([("campaign_id", pa.string()), ("account_id", pa.string())]))
    with _Registered(con, _dg_cm=mt):
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM events WHERE account_id IN "
                             "(SELECT account_id FROM _dg_cm)").fetchall()[0]
        if lo is None:
            return {}
        bucket = "hour" if (hi - lo).total_seconds() <= 14 * 86400 else "day"
        rows = con.execute(
            f"SELECT m.campaign_id, e.account_id, date_trunc('{bucket}', e.ts) AS b, count(*) AS n "
            "FROM events e JOIN _dg_cm m USING (account_id) GROUP BY ALL ORDER BY b").fetchall()
    per: dict[str, dict[str, list[tuple[datetime, int]]]] = {}
    for cid, aid, b, n in rows:
        per.setdefault(cid, {}).setdefault(aid, []).append((b, int(n)))
    out = {}
    for cid, by_acc in per.items():
        busiest = sorted(by_acc, key=lambda a: (-sum(n for _, n in by_acc[a]), a))
        series = {a: by_acc[a] for a in busiest[:MAX_TIMELINE_SERIES]}
        rest: dict[datetime, int] = {}
        for a in busiest[MAX_TIMELINE_SERIES:]:
            for b, n in by_acc[a]:
                rest[b] = rest.get(b, 0) + n
        if rest:
            series[f"{len(busiest) - MAX_TIMELINE_SERIES} other members"] = sorted(rest.items())
        out[cid] = Timeline(bucket, series)
    return out
