"""Scan throughput and peak memory vs events: 0.25M, 1M, 2M, 4M simulated events.

For each size: simulate a default world rescaled to N events (one provider folder), run
`distillguard scan` in a subprocess (end to end: ingest → report), measure wall time and
the child's peak RSS (resource.getrusage(RUSAGE_CHILDREN)), and time a raw DuckDB scan of
the same Parquet (count + per-account aggregate) as the reference limit. Writes
bench/results/scan_speed.json. Usage: python bench/bench_scan_speed.py [--sizes 250000 1000000]
Timings on a shared 2-core machine are contended: compare sizes within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "distillguard")]


def _largest_provider(world: Path) -> Path:
    provs = [p for p in world.iterdir() if (p / "events.parquet").exists()]
    return max(provs, key=lambda p: (p / "events.parquet").stat().st_size)


def run_size(n: int, tmp: Path, corpus: Path | None) -> dict[str, object]:
    world = tmp / f"w{n}"
    cmd = CLI + ["simulate", "--scenario", "default", "--seed", "7", "--events", str(n), "--out", str(world)]
    if corpus:
        cmd += ["--corpus", str(corpus)]
    subprocess.run(cmd, check=True, capture_output=True)
    prov = _largest_provider(world)
    con = duckdb.connect()
    events = con.execute(f"SELECT count(*) FROM read_parquet('{prov / 'events.parquet'}')").fetchall()[0][0]
    t0 = time.perf_counter()
    con.execute(f"""SELECT account_id, count(*), sum(length(prompt)), min(ts), max(ts)
                    FROM read_parquet('{prov / 'events.parquet'}') GROUP BY account_id""").fetchall()
    raw_s = time.perf_counter() - t0
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(CLI + ["scan", str(prov), "--out", str(tmp / f"f{n}")], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    return {"target_events": n, "events": int(events), "scan_s": round(wall, 2),
            "events_per_s": round(events / wall), "peak_rss_mb": round(max(peak_kb, before) / 1024),
            "raw_duckdb_s": round(raw_s, 3), "raw_events_per_s": round(events / max(raw_s, 1e-9)),
            "stderr_tail": r.stderr[-400:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000, 2_000_000, 4_000_000])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    args = ap.parse_args()
    corpus = args.corpus if args.corpus.is_dir() else None
    results = []
    with tempfile.TemporaryDirectory(prefix="dg-bench-") as d:
        for n in args.sizes:
            res = run_size(n, Path(d), corpus)
            print(json.dumps({k: v for k, v in res.items() if k != "stderr_tail"}))
            results.append(res)
    out = REPO / "bench" / "results" / "scan_speed.json"
    out.write_text(json.dumps({"cores": os.cpu_count(), "note": "peak RSS is the max over child processes so far "
                               "(simulate included); shared, contended cores", "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
