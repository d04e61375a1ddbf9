#!/usr/bin/env python
"""Simulator speed: events per second for the small and default worlds.

Runs ``generate`` + ``write_world`` for: small (built-in prompts), default (built-in
prompts) and default with ``--corpus ../shared/corpus`` (skipped if absent). Reports wall
time, process CPU time (user+sys, which is less sensitive to other jobs on a shared
machine) and events/s by both. Writes bench/results/simulate.json.

    .venv/bin/python bench/bench_simulate.py            # small, default, default+corpus
    .venv/bin/python bench/bench_simulate.py --quick    # small only
    .venv/bin/python bench/bench_simulate.py --large    # also the ~4M-request large world
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "simulate.json"
CORPUS = REPO.parent / "shared" / "corpus"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(scenario: str, corpus: Path | None, seed: int = 0) -> dict[str, Any]:
    from distillguard.simulate.world import generate, write_world

    with tempfile.TemporaryDirectory() as tmp:
        w0, c0 = time.perf_counter(), _cpu()
        world = generate(scenario, seed, corpus)
        w1, c1 = time.perf_counter(), _cpu()
        manifest = write_world(world, Path(tmp) / "w")
        w2, c2 = time.perf_counter(), _cpu()
    n = manifest["events"]
    return {
        "scenario": scenario, "corpus": str(corpus) if corpus else "builtin", "seed": seed, "events": n,
        "accounts": sum(p["accounts"] for p in manifest["providers"].values()),
        "generate_wall_s": round(w1 - w0, 2), "write_wall_s": round(w2 - w1, 2),
        "total_wall_s": round(w2 - w0, 2), "total_cpu_s": round(c2 - c0, 2),
        "events_per_s_wall": round(n / (w2 - w0)), "events_per_s_cpu": round(n / max(c2 - c0, 1e-9)),
        "peak_rss_mb_so_far": round(_peak_rss_mb()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small world only")
    ap.add_argument("--large", action="store_true", help="also the ~4M-request large world")
    args = ap.parse_args()
    cases: list[tuple[str, Path | None]] = [("small", None)]
    if not args.quick:
        cases.append(("default", None))
        if CORPUS.is_dir():
            cases.append(("default", CORPUS))
        if args.large:
            cases.append(("large", None))
    rows = []
    for scenario, corpus in cases:
        r = run(scenario, corpus)
        rows.append(r)
        print(f"{scenario:8s} {r['corpus'][-20:]:>20s}  {r['events']:>9,d} events  wall {r['total_wall_s']:6.1f}s "
              f"({r['events_per_s_wall']:>8,d}/s)  cpu {r['total_cpu_s']:6.1f}s ({r['events_per_s_cpu']:>8,d}/s)")
    doc = {"bench": "simulate", "python": sys.version.split()[0], "machine": platform.machine(),
           "cpus": os.cpu_count(), "note": "shared 2-core machine: wall times are contended; cpu times less so",
           "results": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
