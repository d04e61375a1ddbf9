"""How fast the console's pages render: the queue at 10k cases, a case page at a 500-member campaign.

Builds a synthetic findings folder (N lone flagged/watched accounts, campaigns of 20 and
one campaign of M members, with events and an accounts table so every case has facts,
prompts and a timeline), imports it into a fresh case store, serves the console with
uvicorn on 127.0.0.1 and times real HTTP GETs from a logged-in client (server render +
loopback; the first request of each kind is a warm-up). Prints figures and writes
bench/results/console.json.

    python bench/bench_console.py [--cases 10000] [--members 500] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.console import auth, decisions
from distillguard.console.app import create_app
from distillguard.console.importer import import_findings
from distillguard.console.store import CaseStore
from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, conform
from distillguard.testing.server import ThreadedServer

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
PASSWORD = "bench password 0123456789"


def build(folder: Path, n_cases: int, members: int, per_account: int = 4) -> Path:
    small = 20
    n_small = max(0, (n_cases // 50))                   # 2% of cases are campaigns of 20
    lone = n_cases - n_small - 1
    ev: dict[str, list[object]] = {k: [] for k in ("request_id", "ts", "account_id", "ip", "user_agent", "prompt")}
    acc: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    camps: list[Campaign] = []
    n = 0

    def account(aid: str, card: str, dom: str, net: int, score: float, verdict: str, cid: str | None) -> None:
        nonlocal n
        acc.append({"account_id": aid, "created_at": T0, "email": f"{aid}@{dom}", "payment_fingerprint": card,
                    "signup_ip": f"10.{net % 250}.{(net // 250) % 250}.9", "verified": False, "tier": "free"})
        rows.append({"account_id": aid, "score": score, "verdict": verdict, "campaign_id": cid,
                     "reasons": [{"signal": "volume", "value": score, "weight": 0.6, "detail": "many requests"},
                                 {"signal": "automation", "value": score / 2, "weight": 0.6, "detail": "scripted"}]})
        for j in range(per_account):
            n += 1
            ev["request_id"].append(f"r{n}")
            ev["ts"].append(T0 + timedelta(minutes=7 * n % 40000))
            ev["account_id"].append(aid)
            ev["ip"].append(f"10.{net % 250}.{(net // 250) % 250}.{j}")
            ev["user_agent"].append(f"sdk/{net % 30}")
            ev["prompt"].append(f"Explain topic {n % 997} step by step, account {aid}")

    big = [f"big-{i}" for i in range(members)]
    for i, a in enumerate(big):
        account(a, f"fp_big_{i % 15}", ["qq.com", "mail.example", "tempmail.dev"][i % 3], 5000 + i % 40, 0.85, "flag", "big")
    camps.append(Campaign(id="big", account_ids=big, score=0.9, first_seen=T0.isoformat(),
                          last_seen=(T0 + timedelta(days=20)).isoformat(), request_count=members * per_account,
                          signals={"identity_ties": 0.9, "network_ties": 0.7, "gate": 1.0, "signal_volume": 0.6},
                          atlas_techniques=["AML.T0040", "AML.T0024.002", "AML.T0021"], summary=f"{members} accounts"))
    for k in range(n_small):
        ids = [f"c{k}-{j}" for j in range(small)]
        for j, a in enumerate(ids):
            account(a, f"fp_c{k}_{j % 3}", "gmail.com", 10000 + k, 0.82, "flag", f"camp-{k}")
        camps.append(Campaign(id=f"camp-{k}", account_ids=ids, score=0.8 + (k % 10) / 100, first_seen=T0.isoformat(),
                              last_seen=(T0 + timedelta(days=3)).isoformat(), request_count=small * per_account,
                              signals={"identity_ties": 0.6, "signal_volume": 0.4}))
    for i in range(lone):
        account(f"lone-{i}", f"fp_lone_{i}", ["gmail.com", "outlook.com", "qq.com"][i % 3], 20000 + i,
                0.5 + (i % 50) / 100, "flag" if i % 3 == 0 else "watch", None)
    folder.mkdir(parents=True, exist_ok=True)
    events, accounts = folder / "events.parquet", folder / "accounts.parquet"
    pq.write_table(conform(pa.table(ev), EVENT_COLUMNS), events)
    pq.write_table(conform(pa.Table.from_pylist(acc), ACCOUNT_COLUMNS), accounts)
    meta = {"tool": "distillguard", "version": "bench", "provider": "bench",
            "inputs": {"events": [str(events)], "accounts": [str(accounts)]}}
    return write_findings(Findings(account_table(rows), camps, meta), folder / "findings")


def timed(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    xs = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path)
        xs.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    xs.sort()
    return {"median_ms": round(statistics.median(xs), 1), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))], 1),
            "max_ms": round(xs[-1], 1), "bytes": len(r.content)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dg-bench-console-") as tmp:
        t = time.perf_counter()
        findings = build(Path(tmp), args.cases, args.members)
        built_s = time.perf_counter() - t
        store = CaseStore(Path(tmp) / "cases.sqlite")
        t = time.perf_counter()
        rep = import_findings(store, findings)
        import_s = time.perf_counter() - t
        total = store.query("SELECT count(*) FROM cases")[0][0]
        big = store.find("big")
        assert big is not None and big.size == args.members
        auth.add_user(store, "bench", "reviewer", PASSWORD)
        srv = ThreadedServer(create_app(store, decisions.Settings()), log_level="error")
        try:
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                pre = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
                assert c.post("/login", data={"csrf": pre, "user": "bench", "password": PASSWORD}).status_code == 303
                res = {
                    "queue": timed(c, "/cases", args.repeat),
                    "queue_filtered_email_domain": timed(c, "/cases?email_domain=qq.com&kind=account", args.repeat),
                    "queue_search_account": timed(c, f"/cases?q=lone-{args.cases // 2}", args.repeat),
                    "queue_last_page": timed(c, f"/cases?status=all&offset={((total - 1) // 100) * 100}", args.repeat),
                    "case_page_big_campaign": timed(c, f"/cases/{big.id}", args.repeat),
                    "case_page_account": timed(c, f"/cases/{store.find('lone-1').id}", args.repeat),  # type: ignore[union-attr]
                }
        finally:
            srv.stop()
    out = {"cases": total, "campaign_members": args.members, "new_cases": rep.new, "build_s": round(built_s, 1),
           "import_s": round(import_s, 1), "repeat": args.repeat, "pages": res,
           "machine": {"cpus": os.cpu_count(), "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
                       "python": platform.python_version(), "platform": platform.platform(),
                       "note": "HTTP GET over loopback to uvicorn in a thread of the same process; times include "
                               "the server's render and the client"},
           "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print(json.dumps(out, indent=2))
    dest = Path(__file__).parent / "results" / "console.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
