"""Findings folders → cases: a case per campaign and per flagged or watched account outside one.

Everything the case page needs is gathered here once, at import, so a page is a few
indexed reads however large the logs are: member facts (card, e-mail domain, sign-up and
request networks, client string) from the accounts table and the events the scan
recorded (``meta.inputs``), hourly request counts, example prompts (cut to 300
characters), and intel matches. Import is idempotent: re-importing a folder refreshes the
evidence of its cases and leaves their status, assignee and history alone.
"""

from __future__ import annotations

import ipaddress
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.console import activity
from distillguard.console.store import CaseStore
from distillguard.console.words import tie_of
from distillguard.errors import InputError
from distillguard.findings import read_findings

PROMPT_CHARS = 300
EXAMPLES_PER_ACCOUNT = 3
CAMPAIGN_EXAMPLES = 8
SIGNAL_MIN = 0.15   # a signal counts for the queue's signal filter from this strength on


@dataclass
class ImportReport:
    source: str
    provider: str | None
    new: int = 0
    updated: int = 0
    with_events: bool = False
    with_accounts: bool = False
    allowlisted: int = 0   # new cases closed at once: all their accounts were allowlisted before


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an address is in, as text; None when it is not an address."""
    if not ip:
        return None
    try:
        a = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 48}", strict=False))


def priority(score: float, size: int) -> float:
    """Queue priority: the score, lifted by the log of the size (a 64-account campaign at 0.8 outranks
    a lone account at 0.9), on a 0-250 scale."""
    return round(100.0 * score * (1.0 + math.log2(max(1, size)) / 4.0), 2)


def _provider(folder: Path, meta: dict[str, Any], accounts: pa.Table) -> str | None:
    if meta.get("provider"):
        return str(meta["provider"])
    if "provider" in accounts.column_names:
        vals = {v for v in accounts.column("provider").to_pylist() if v}
        if len(vals) == 1:
            return str(vals.pop())
    # the demo's layout: findings/<provider>/<detector>/
    if folder.name in ("distillguard", str(meta.get("tool") or "")) and folder.parent.name != "findings":
        return folder.parent.name
    return None


def _views(con: duckdb.DuckDBPyConnection, meta: dict[str, Any], work: Path) -> tuple[bool, bool]:
    from distillguard.cli.report import _view, recorded_inputs

    have = []
    for kind in ("events", "accounts"):
        spec, mapping, cfg = recorded_inputs(meta, kind)
        ok = False
        if spec:
            try:
                _view(con, kind, spec, kind, work / kind, mapping, cfg)
                ok = True
            except Exception:  # moved or unreadable logs: cases still import, without facts and prompts
                ok = False
        have.append(ok)
    return have[0], have[1]


def _cols(con: duckdb.DuckDBPyConnection, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def _gather(con: duckdb.DuckDBPyConnection, members: list[str], have_events: bool, have_accounts: bool,
            campaign_examples: list[str]) -> dict[str, Any]:
    """Per-member facts, activity, hourly counts and example prompts for the given accounts."""
    out: dict[str, Any] = {"facts": {}, "activity": {}, "hours": {}, "examples": {}, "by_id": {}}
    if not members:
        return out
    con.register("_dg_members", pa.table({"account_id": pa.array(sorted(set(members)), pa.string())}))
    con.register("_dg_examples", pa.table({"request_id": pa.array(campaign_examples, pa.string())}))
    try:
        if have_accounts:
            cols = _cols(con, "accounts")
            sel = ", ".join(c if c in cols else f"NULL AS {c}" for c in ("email", "payment_fingerprint", "signup_ip"))
            for aid, email, card, sip in con.execute(
                    f"SELECT a.account_id, {sel} FROM accounts a JOIN _dg_members USING (account_id)").fetchall():
                f = out["facts"].setdefault(aid, {})
                if card:
                    f["card"] = str(card)
                if email and "@" in str(email):
                    f["email_domain"] = str(email).rsplit("@", 1)[1].lower()
                net = network_of(sip)
                if net:
                    f["signup_net"] = net
        if have_events:
            cols = _cols(con, "events")
            ip = "mode(e.ip)" if "ip" in cols else "NULL"
            ua = "mode(e.user_agent)" if "user_agent" in cols else "NULL"
            for aid, n, first, last, top_ip, top_ua in con.execute(
                    f"SELECT e.account_id, count(*), min(e.ts), max(e.ts), {ip}, {ua} FROM events e "
                    "JOIN _dg_members USING (account_id) GROUP BY 1").fetchall():
                out["activity"][aid] = {"requests": int(n), "first": first.isoformat() if first else None,
                                        "last": last.isoformat() if last else None}
                f = out["facts"].setdefault(aid, {})
                net = network_of(top_ip)
                if net:
                    f["network"] = net
                if top_ua:
                    f["client"] = str(top_ua)[:200]
            for aid, h, n in con.execute(
                    "SELECT e.account_id, date_trunc('hour', e.ts) AS h, count(*) FROM events e "
                    "JOIN _dg_members USING (account_id) GROUP BY 1, 2 ORDER BY 2").fetchall():
                out["hours"].setdefault(aid, []).append((h.isoformat(), int(n)))
            if "prompt" in cols:
                for aid, rid, ts, prompt in con.execute(
                        f"SELECT e.account_id, e.request_id, e.ts, left(e.prompt, {PROMPT_CHARS + 1}) FROM events e "
                        "JOIN _dg_members USING (account_id) QUALIFY row_number() OVER "
                        f"(PARTITION BY e.account_id ORDER BY hash(e.request_id)) <= {EXAMPLES_PER_ACCOUNT}").fetchall():
                    out["examples"].setdefault(aid, []).append(_example(aid, rid, ts, prompt))
                if campaign_examples:
                    for aid, rid, ts, prompt in con.execute(
                            f"SELECT e.account_id, e.request_id, e.ts, left(e.prompt, {PROMPT_CHARS + 1}) FROM events e "
                            "JOIN _dg_examples USING (request_id)").fetchall():
                        out["by_id"][rid] = _example(aid, rid, ts, prompt)
    finally:
        con.unregister("_dg_members")
        con.unregister("_dg_examples")
    return out


def _example(aid: str, rid: str, ts: Any, prompt: Any) -> dict[str, Any]:
    p = str(prompt or "")
    return {"account_id": aid, "request_id": str(rid), "ts": ts.isoformat() if ts else None,
            "prompt": p[:PROMPT_CHARS] + ("…" if len(p) > PROMPT_CHARS else "")}


def _merge_hours(series: list[list[tuple[str, int]]]) -> list[tuple[str, int]]:
    tot: dict[str, int] = {}
    for s in series:
        for h, n in s:
            tot[h] = tot.get(h, 0) + n
    return sorted(tot.items())


def _intel(matches: pa.Table | None, members: list[str]) -> list[dict[str, Any]]:
    if matches is None:
        return []
    want = set(members)
    keep = ("account_id", "indicator_id", "kind", "confidence", "corroboration", "category", "revoked", "disputed",
            "source_org", "evidence")
    rows = [{k: r.get(k) for k in keep} for r in matches.to_pylist() if r.get("account_id") in want]
    return sorted(rows, key=lambda r: (-(r.get("corroboration") or 0.0), str(r.get("indicator_id"))))[:200]


def _upsert(con: Any, source_id: int, kind: str, ref: str, fields: dict[str, Any], members: list[tuple[str, float, str]],
            facts: set[tuple[str, str]], now: str, report: ImportReport) -> None:
    row = con.execute("SELECT id FROM cases WHERE source_id=? AND kind=? AND ref=?", (source_id, kind, ref)).fetchone()
    cols = ("provider", "title", "score", "size", "priority", "verdict", "signals", "tie", "first_seen", "last_seen", "data")
    if row is None:
        cur = con.execute(
            f"INSERT INTO cases (source_id, kind, ref, {', '.join(cols)}, status, created_at, updated_at) "
            f"VALUES (?, ?, ?, {', '.join('?' * len(cols))}, 'open', ?, ?)",
            (source_id, kind, ref, *[fields[c] for c in cols], now, now))
        case_id = int(cur.lastrowid)
        activity.append(con, actor="import", type="queue", case_id=case_id, status_to="open",
                        reason=f"{kind} {ref} from the findings", data={"score": fields["score"], "size": fields["size"]})
        report.new += 1
        ids = [a for a, _, _ in members]
        listed = con.execute(f"SELECT DISTINCT case_id FROM allowlist WHERE account_id IN ({','.join('?' * len(ids))})",
                             ids).fetchall() if ids else []
        n_listed = con.execute(f"SELECT count(*) FROM allowlist WHERE account_id IN ({','.join('?' * len(ids))})",
                               ids).fetchone()[0] if ids else 0
        if ids and n_listed == len(ids):
            # the customer's own bots, allowlisted on an earlier case: never queued again
            con.execute("UPDATE cases SET status='dismissed', decision='allowlist', decided_at=?, triaged_at=? "
                        "WHERE id=?", (now, now, case_id))
            activity.append(con, actor="import", type="allowlist", case_id=case_id, status_from="open",
                            status_to="dismissed", reason="every account is on the allowlist (case "
                            + ", ".join(f"#{r[0]}" for r in listed) + ")")
            report.allowlisted += 1
    else:
        case_id = int(row[0])
        con.execute(f"UPDATE cases SET {', '.join(c + '=?' for c in cols)}, updated_at=? WHERE id=?",
                    (*[fields[c] for c in cols], now, case_id))
        con.execute("DELETE FROM case_accounts WHERE case_id=?", (case_id,))
        con.execute("DELETE FROM case_facts WHERE case_id=?", (case_id,))
        report.updated += 1
    con.executemany("INSERT INTO case_accounts VALUES (?, ?, ?, ?)", [(case_id, a, s, v) for a, s, v in members])
    con.executemany("INSERT OR IGNORE INTO case_facts VALUES (?, ?, ?)", [(case_id, k, v) for k, v in sorted(facts)])


def import_findings(store: CaseStore, folder: str | Path, intel_matches: str | Path | None = None) -> ImportReport:
    """Import one findings folder (and optional intel matches) into the case store."""
    folder = Path(folder).resolve()
    f = read_findings(folder)
    matches = None
    if intel_matches:
        mp = Path(intel_matches)
        if not mp.exists():
            raise InputError("intel matches file not found", source=str(mp))
        matches = pq.read_table(mp)
    accounts = f.accounts
    provider = _provider(folder, f.meta, accounts)
    rep = ImportReport(str(folder), provider)
    rows = accounts.to_pylist()
    by_acc = {r["account_id"]: r for r in rows}
    campaign_ids = {c.id for c in f.campaigns}
    lone = [r for r in rows if r["verdict"] in ("flag", "watch") and r.get("campaign_id") not in campaign_ids]
    all_members = [a for c in f.campaigns for a in c.account_ids] + [r["account_id"] for r in lone]
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    with tempfile.TemporaryDirectory(prefix="dg-console-") as tmp:
        try:
            rep.with_events, rep.with_accounts = _views(con, f.meta, Path(tmp))
            g = _gather(con, all_members, rep.with_events, rep.with_accounts,
                        [r for c in f.campaigns for r in c.example_request_ids[:CAMPAIGN_EXAMPLES]])
        finally:
            con.close()
    now = activity.now_iso()
    with store.tx() as db:
        row = db.execute("SELECT id FROM sources WHERE path=?", (str(folder),)).fetchone()
        meta_small = {k: f.meta.get(k) for k in ("tool", "version", "thresholds", "events", "detector")}
        if row is None:
            source_id = int(db.execute("INSERT INTO sources (path, provider, imported_at, meta) VALUES (?, ?, ?, ?)",
                                       (str(folder), provider, now, json.dumps(meta_small, default=str))).lastrowid)
        else:
            source_id = int(row[0])
            db.execute("UPDATE sources SET provider=?, imported_at=?, meta=? WHERE id=?",
                       (provider, now, json.dumps(meta_small, default=str), source_id))
        for c in f.campaigns:
            members = [(a, float(by_acc.get(a, {}).get("score") or 0.0), str(by_acc.get(a, {}).get("verdict") or "clear"))
                       for a in c.account_ids]
            sigs = sorted({k[len("signal_"):] for k, v in (c.signals or {}).items()
                           if k.startswith("signal_") and v >= SIGNAL_MIN})
            facts = {(k, v) for a in c.account_ids for k, v in g["facts"].get(a, {}).items()
                     if k in ("email_domain", "network", "signup_net")}
            facts = {("network" if k == "signup_net" else k, v) for k, v in facts}
            examples = [g["by_id"][r] for r in c.example_request_ids[:CAMPAIGN_EXAMPLES] if r in g["by_id"]]
            if len(examples) < CAMPAIGN_EXAMPLES:
                top = sorted(members, key=lambda m: -m[1])
                for a, _, _ in top:
                    for x in g["examples"].get(a, [])[:1]:
                        if len(examples) < CAMPAIGN_EXAMPLES and x not in examples:
                            examples.append(x)
            data = {"summary": c.summary, "signals": c.signals, "shared_infrastructure": c.shared_infrastructure,
                    "atlas": c.atlas_techniques, "request_count": c.request_count,
                    "example_request_ids": c.example_request_ids, "examples": examples,
                    "member_facts": {a: g["facts"].get(a, {}) for a in c.account_ids},
                    "member_activity": {a: g["activity"].get(a) for a in c.account_ids if a in g["activity"]},
                    "timeline": _merge_hours([g["hours"].get(a, []) for a in c.account_ids]),
                    "intel": _intel(matches, list(c.account_ids))}
            fields = {"provider": c.provider or provider, "title": f"campaign {c.id}: {len(c.account_ids)} accounts",
                      "score": float(c.score), "size": len(c.account_ids), "priority": priority(float(c.score), len(c.account_ids)),
                      "verdict": "flag" if c.score >= float((f.meta.get("thresholds") or {}).get("flag", 0.8)) else "watch",
                      "signals": " ".join(sigs), "tie": tie_of(c.signals or {}), "first_seen": c.first_seen,
                      "last_seen": c.last_seen, "data": json.dumps(data, default=str)}
            _upsert(db, source_id, "campaign", c.id, fields, members, facts, now, rep)
        for r in lone:
            aid = r["account_id"]
            act = g["activity"].get(aid) or {}
            reasons = [dict(x) for x in (r.get("reasons") or [])]
            sigs = sorted({x["signal"] for x in reasons if (x.get("value") or 0) >= SIGNAL_MIN and x.get("signal")})
            facts = {("network" if k == "signup_net" else k, v) for k, v in g["facts"].get(aid, {}).items()
                     if k in ("email_domain", "network", "signup_net")}
            ff = r.get("first_flag_ts")
            data = {"reasons": reasons, "first_flag_ts": ff.isoformat() if ff else None,
                    "campaign_id": r.get("campaign_id"), "examples": g["examples"].get(aid, []),
                    "facts": g["facts"].get(aid, {}), "activity": act, "timeline": g["hours"].get(aid, []),
                    "intel": _intel(matches, [aid])}
            fields = {"provider": r.get("provider") or provider, "title": f"account {aid}", "score": float(r["score"]),
                      "size": 1, "priority": priority(float(r["score"]), 1), "verdict": r["verdict"],
                      "signals": " ".join(sigs), "tie": None, "first_seen": act.get("first"),
                      "last_seen": act.get("last"), "data": json.dumps(data, default=str)}
            _upsert(db, source_id, "account", aid, fields, [(aid, float(r["score"]), r["verdict"])], facts, now, rep)
    return rep
