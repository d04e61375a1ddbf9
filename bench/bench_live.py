#!/usr/bin/env python
"""Live guard, run cold: does it act on a campaign in its first exchanges, and leave customers alone?

Per world and provider: a fresh guard (no batch seed, no intel, empty state) receives the
provider's accounts feed (each record just before the account's first request, as
``distillguard replay --accounts`` sends it) and every request in time order, through the
guard's own ``process`` (the code ``POST /v1/events`` runs; in-process, so the figures are
the engine's and not the HTTP client's). Recorded per account: the request at which the
guard first acted (challenge, throttle or block) and its final live verdict. Then, against
the labels: per campaign, the share of its exchanges harvested before each account's first
action; benign accounts acted on and blocked, per persona; and agreement of the final live
verdict with a batch ``scan`` of the same provider.

Worlds are the held-out ones of bench_detection.py (corpus seeds with attack prompts from
files no index has seen, and a built-in-generator world), none used to tune the guard.

    .venv/bin/python bench/bench_live.py                     # corpus seed 2 + built-in seed 6
    .venv/bin/python bench/bench_live.py --seeds 2 3 4 --builtin-seeds 6 --events 150000

Writes bench/results/live.json. Machine: whatever runs it (2 shared cores here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from bench_detection import SPLIT, bench_scenario, cli  # noqa: E402

RESULTS = REPO / "bench" / "results" / "live.json"


def run_provider(pdir: Path, labels: Any, fdir: Path, log: Path, policy: Path | None = None) -> dict[str, Any]:
    from distillguard.config import Settings
    from distillguard.evaluate.live import live_outcome
    from distillguard.service.replay import replay_local

    acc = pdir / "accounts.parquet"
    settings = Settings()
    settings.service.policy_file = str(policy) if policy else None
    summ = replay_local(pdir / "events.parquet", settings, accounts=acc if acc.exists() else None)
    cli("scan", str(pdir), "--out", str(fdir), "--no-report", log=log)
    batch = {r["account_id"]: r["verdict"] for r in pq.read_table(fdir / "accounts.parquet").to_pylist()}
    out = live_outcome(summ, labels, pdir.name, batch)
    out.update({"events": summ.events, "events_per_s": round(summ.events / summ.seconds) if summ.seconds else None,
                "actions": dict(summ.actions)})
    return out


def summarise(parts: list[dict[str, Any]]) -> dict[str, Any]:
    camps = [c for p in parts for c in p["campaigns"].values()]
    ben: Counter[str] = Counter()
    by_type: dict[str, list[float]] = defaultdict(list)
    ben_persona: dict[str, Counter[str]] = defaultdict(Counter)
    for p in parts:
        for k, v in p["benign"].items():
            ben.update(v)
            ben_persona[k].update(v)
        for c in p["campaigns"].values():
            by_type[c["type"]].append(c["harvested_share"])
    ex = sum(c["exchanges"] for c in camps)
    return {
        "campaigns": len(camps),
        "campaigns_acted_on": sum(c["acted_on"] > 0 for c in camps),
        "harvested_before_first_action": round(sum(c["harvested"] for c in camps) / max(1, ex), 4),
        "worst_campaign_share": max((c["harvested_share"] for c in camps), default=None),
        "campaigns_at_or_under_1pct": sum(c["harvested_share"] <= 0.01 for c in camps),
        "by_type_mean_share": {k: round(statistics.fmean(v), 4) for k, v in sorted(by_type.items())},
        "benign_accounts": ben["accounts"], "benign_acted_on": ben["acted_on"], "benign_blocked": ben["blocked"],
        "benign_acted_rate": round(ben["acted_on"] / max(1, ben["accounts"]), 5),
        "agreement_live_vs_batch": round(statistics.fmean(p["agreement"] for p in parts), 4),
        "benign_by_persona": {k: dict(v) for k, v in sorted(ben_persona.items()) if v["acted_on"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[2])
    ap.add_argument("--builtin-seeds", type=int, nargs="*", default=[6])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dg_bench_live"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--policy", type=Path, default=None, help="guard policy TOML (default: the packaged policy)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    scenario = bench_scenario(tomllib.loads(SPLIT.read_text()), args.work / "scenario.toml")
    worlds = [(s, False) for s in args.seeds] + [(s, True) for s in args.builtin_seeds]
    report: dict[str, Any] = {"worlds": [], "machine": "see docs/benchmarks.md", "events_target": args.events}
    parts = []
    for seed, builtin in worlds:
        wdir = args.work / (f"builtin{seed}" if builtin else f"seed{seed}")
        world = wdir / "world"
        log = wdir / "log.txt"
        wdir.mkdir(parents=True, exist_ok=True)
        if not (world / "labels.parquet").exists():
            src = ["--scenario", "default"] if builtin else ["--scenario", str(scenario), "--corpus", str(args.corpus)]
            cli("simulate", *src, "--seed", str(seed), "--out", str(world), "--events", str(args.events), log=log)
        labels = pq.read_table(world / "labels.parquet")
        for pdir in sorted(p for p in world.iterdir() if (p / "events.parquet").exists()):
            ev = run_provider(pdir, labels, wdir / f"findings_{pdir.name}", log, args.policy)
            ev.update({"world": wdir.name, "provider": pdir.name})
            parts.append(ev)
            s = summarise([ev])
            print(f"{wdir.name}/{pdir.name}: {ev['events']:,} events at {ev['events_per_s']:,}/s; "
                  f"harvested before first action {s['harvested_before_first_action']:.1%} "
                  f"(worst campaign {s['worst_campaign_share']:.1%}); benign acted on "
                  f"{s['benign_acted_on']}/{s['benign_accounts']}, blocked {s['benign_blocked']}; "
                  f"live/batch agreement {s['agreement_live_vs_batch']:.1%}", flush=True)
    report["worlds"] = parts
    report["summary"] = summarise(parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
