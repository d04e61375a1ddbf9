"""How long report.html takes and how big it gets as findings and events grow.

Builds synthetic findings (N accounts, 1% flagged, campaigns of 20) and an events view of
E rows inside DuckDB (no files), renders the report, prints figures and writes
bench/results/report.json. Usage: python bench/bench_report.py [--events 1000000 --accounts 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from distillguard.findings import Campaign, Findings, account_table
from distillguard.report import write_report


def build(n_events: int, n_accounts: int, seed: int = 0) -> tuple[Findings, duckdb.DuckDBPyConnection]:
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"""CREATE TABLE events AS SELECT 'r' || i AS request_id,
        TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_seconds((i * 2592000 // {n_events})::BIGINT) AS ts,
        'a' || (hash(i) % {n_accounts}) AS account_id, '10.' || (hash(i) % 200) || '.' || (i % 7) || '.1' AS ip,
        'sdk/' || (hash(i) % 50) AS user_agent, 'Explain topic ' || (i % 9973) || ' step by step' AS prompt
        FROM range({n_events}) t(i)""")
    scores = rng.beta(1.2, 8, n_accounts)
    hot = rng.choice(n_accounts, n_accounts // 100, replace=False)
    scores[hot] = rng.uniform(0.8, 1.0, len(hot))
    camps, member_of = [], {}
    for k in range(len(hot) // 20):
        ids = [f"a{j}" for j in hot[k * 20:(k + 1) * 20]]
        member_of.update({a: f"camp-{k}" for a in ids})
        camps.append(Campaign(id=f"camp-{k}", account_ids=ids, score=float(rng.uniform(0.8, 1)),
                              first_seen="2026-03-01T00:00:00+00:00", last_seen="2026-03-31T00:00:00+00:00",
                              request_count=20 * n_events // n_accounts, atlas_techniques=["AML.T0040", "AML.T0065"],
                              shared_infrastructure={"payment_fingerprint": ["fp"]}, summary="synthetic"))
    rows = [{"account_id": f"a{i}", "score": float(s), "verdict": "flag" if s >= 0.8 else "watch" if s >= 0.5 else "clear",
             "campaign_id": member_of.get(f"a{i}"),
             "reasons": [{"signal": "volume", "value": float(s), "weight": 1.0, "detail": f"{s:.0%} of requests"}]}
            for i, s in enumerate(scores)]
    return Findings(account_table(rows), camps, {"tool": "bench"}), con


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--accounts", type=int, default=50_000)
    args = ap.parse_args()
    results = []
    for n in args.events:
        findings, con = build(n, args.accounts)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = write_report(findings, con, Path(tmp) / "report.html")
            dt = time.perf_counter() - t0
            size = path.stat().st_size
        r = {"events": n, "accounts": args.accounts, "flagged_or_watched": int(sum(
            v != "clear" for v in findings.accounts.column("verdict").to_pylist())),
             "campaigns": len(findings.campaigns), "seconds": round(dt, 2), "bytes": size,
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        print(json.dumps(r))
        results.append(r)
    out = Path(__file__).parent / "results" / "report.json"
    out.write_text(json.dumps({"note": "2 shared, contended cores; peak RSS includes building the synthetic data",
                               "runs": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
