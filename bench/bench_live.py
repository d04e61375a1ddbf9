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
import asyncio
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


async def run_guard(pdir: Path) -> dict[str, Any]:
    from distillguard.config import Settings
    from distillguard.service.guard import Guard

    settings = Settings()
    settings.service.state_path = ":memory:"
    guard = Guard(settings.service, None, settings)  # ":memory:": no journal, nothing kept
    await guard.start()
    accounts = {r["account_id"]: r for r in pq.read_table(pdir / "accounts.parquet").to_pylist()} \
        if (pdir / "accounts.parquet").exists() else {}
    con = duckdb.connect()
    cols = "request_id, account_id, ip, user_agent, conversation_id, system_prompt, prompt, prompt_tokens, " \
           "completion_tokens, reasoning_tokens, epoch_us(ts) / 1e6 AS t"
    reader = con.sql(f"SELECT {cols} FROM read_parquet('{pdir / 'events.parquet'}') ORDER BY ts, request_id") \
        .to_arrow_reader(20_000)
    n_seen: Counter[str] = Counter()
    first: dict[str, tuple[int, str, float]] = {}
    verdict: dict[str, str] = {}
    blocked: set[str] = set()
    lat: list[float] = []
    events = 0
    t0 = time.perf_counter()
    for rb in reader:
        rows = rb.to_pylist()
        for i in range(0, len(rows), 100):
            chunk = rows[i:i + 100]
            new = [accounts.pop(r["account_id"]) for r in chunk if r["account_id"] in accounts]
            if new:
                guard.learn_accounts(new)
            evs = [({k: v for k, v in r.items() if v is not None and k != "t"}, r["t"]) for r in chunk]
            s = time.perf_counter()
            out = await guard.process(evs)
            lat.append((time.perf_counter() - s) / len(chunk))
            for r, d in zip(chunk, out):
                aid = d["account_id"]
                n_seen[aid] += 1
                verdict[aid] = d["verdict"]
                if d["action"] != "allow" and aid not in first:
                    first[aid] = (n_seen[aid], d["action"], r["t"])
                if d["action"] == "block":
                    blocked.add(aid)
            events += len(chunk)
    secs = time.perf_counter() - t0
    await guard.stop()
    return {"first": first, "verdict": verdict, "blocked": blocked, "n": n_seen, "events": events,
            "events_per_s": events / secs, "mean_decision_ms": 1000 * statistics.fmean(lat)}


def evaluate(pdir: Path, labels: dict[str, dict[str, Any]], live: dict[str, Any], batch: dict[str, str]) -> dict[str, Any]:
    camp: dict[str, dict[str, Any]] = defaultdict(lambda: {"type": "", "accounts": 0, "exchanges": 0, "harvested": 0,
                                                           "acted_on": 0})
    benign: dict[str, Counter[str]] = defaultdict(Counter)
    for aid, n in live["n"].items():
        lab = labels.get(aid)
        if lab is None:
            continue
        fa = live["first"].get(aid)
        if lab["label"] == "distillation":
            c = camp[lab["campaign_id"] or aid]
            c["type"] = lab["persona"]
            c["accounts"] += 1
            c["exchanges"] += n
            c["harvested"] += (fa[0] - 1) if fa else n
            c["acted_on"] += fa is not None
        else:
            b = benign[lab["persona"]]
            b["accounts"] += 1
            b["acted_on"] += fa is not None
            b["blocked"] += aid in live["blocked"]
    agree = [live["verdict"][a] == batch.get(a, "clear") for a in live["verdict"] if a in labels]
    return {"campaigns": {k: {**v, "harvested_share": round(v["harvested"] / max(1, v["exchanges"]), 4)}
                          for k, v in camp.items()},
            "benign": {k: dict(v) for k, v in benign.items()},
            "agreement": round(sum(agree) / max(1, len(agree)), 4)}


def summarise(parts: list[dict[str, Any]]) -> dict[str, Any]:
    camps = [c for p in parts for c in p["campaigns"].values()]
    ben = Counter()
    by_type: dict[str, list[float]] = defaultdict(list)
    for p in parts:
        for v in p["benign"].values():
            ben.update(v)
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[2])
    ap.add_argument("--builtin-seeds", type=int, nargs="*", default=[6])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dg_bench_live"))
    ap.add_argument("--out", type=Path, default=RESULTS)
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
        labels = {r["account_id"]: r for r in pq.read_table(world / "labels.parquet").to_pylist()}
        for pdir in sorted(p for p in world.iterdir() if (p / "events.parquet").exists()):
            live = asyncio.run(run_guard(pdir))
            fdir = wdir / f"findings_{pdir.name}"
            cli("scan", str(pdir), "--out", str(fdir), "--no-report", log=log)
            batch = {r["account_id"]: r["verdict"] for r in pq.read_table(fdir / "accounts.parquet").to_pylist()}
            ev = evaluate(pdir, labels, live, batch)
            ev.update({"world": wdir.name, "provider": pdir.name, "events": live["events"],
                       "events_per_s": round(live["events_per_s"]), "mean_decision_ms": round(live["mean_decision_ms"], 3)})
            parts.append(ev)
            s = summarise([ev])
            print(f"{wdir.name}/{pdir.name}: {live['events']:,} events at {live['events_per_s']:,.0f}/s; "
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
