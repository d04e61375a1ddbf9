"""Speed of the template / known-corpus / campaign stages (features.minhash, corpus, campaigns).

Prints and writes bench/results/templates_campaigns.json:

* sketch throughput (prompts/s) of minhash.sketch on real corpus prompts (../shared/corpus);
* corpus index build time, size and bytes per prompt;
* campaign stage (attributes → graph → Leiden → scoring) on a synthetic provider of
  ``--accounts`` accounts (default 50,000) with one 300-account hydra hidden in it, and
  whether the hydra comes out as a campaign.

Usage: .venv/bin/python bench/bench_templates_campaigns.py [--accounts 50000] [--corpus ../shared/corpus]
Timings on a shared, contended 2-core machine are noisy: treat them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.campaigns import find_campaigns
from distillguard.config import Settings
from distillguard.corpus import build_index, iter_prompts
from distillguard.detectors.base import ScanContext
from distillguard.features import minhash

ROOT = Path(__file__).resolve().parents[1]


def corpus_prompts(corpus: Path, limit: int) -> list[str]:
    """Up to ``limit`` prompts taken evenly from every corpus file (a realistic length mix)."""
    files = sorted(corpus.rglob("*.jsonl.gz"))
    per_file = max(1, limit // max(1, len(files)))
    out: list[str] = []
    for f in files:
        for i, p in enumerate(iter_prompts(f)):
            if i >= per_file:
                break
            out.append(p)
    return out[:limit]


def bench_sketch(prompts: list[str]) -> dict[str, float]:
    arr = pa.array(prompts, pa.large_string())
    minhash.sketch(arr.slice(0, 1000))
    batches = [arr.slice(i, 20_000) for i in range(0, len(prompts), 20_000)]
    t = time.perf_counter()
    for b in batches:
        minhash.sketch(b)
    dt = time.perf_counter() - t
    with ThreadPoolExecutor(2) as pool:  # as features.templates.sample_prompts does
        t = time.perf_counter()
        list(pool.map(minhash.sketch, batches))
        dt2 = time.perf_counter() - t
    chars = sum(len(p) for p in prompts) / len(prompts)
    return {"prompts": len(prompts), "mean_chars": round(chars, 1), "seconds": round(dt, 2),
            "prompts_per_s": round(len(prompts) / dt), "prompts_per_s_2_threads": round(len(prompts) / dt2)}


def bench_index(corpus: Path, tmp: Path) -> dict[str, float]:
    t = time.perf_counter()
    meta = build_index(corpus / "reasoning_problems", tmp / "idx.parquet")
    dt = time.perf_counter() - t
    size = (tmp / "idx.parquet").stat().st_size
    return {"indexed": meta["indexed"], "seconds": round(dt, 2), "bytes": size,  # type: ignore[dict-item]
            "bytes_per_prompt": round(size / max(1, int(meta["indexed"])), 1)}  # type: ignore[call-overload]


def synthetic_world(n_accounts: int, prompts: list[str], hydra: int = 300, per_account: int = 8,
                    seed: int = 0) -> tuple[ScanContext, pa.Table, set[str]]:
    rng = random.Random(seed)
    t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    uas = [f"sdk-{i}/1.{i}" for i in range(30)] + ["openai-python/1.40"] * 30
    ev: dict[str, list[object]] = {k: [] for k in ("request_id", "ts", "account_id", "ip", "user_agent", "prompt")}
    ac: dict[str, list[object]] = {k: [] for k in ("account_id", "created_at", "email", "payment_fingerprint",
                                                   "verified", "signup_ip")}
    bad = set()
    tpl = "Solve step by step and give the final answer: {} items cost {} each, what do {} cost?"
    for i in range(n_accounts):
        acc = f"a{i:06d}"
        is_h = i < hydra
        if is_h:
            bad.add(acc)
            ip = f"203.0.113.{rng.randint(1, 254)}"
            created = t0 - timedelta(hours=10, minutes=rng.randint(0, 9))
            email = f"{''.join(rng.choice('abcdefgh') for _ in range(6))}{rng.randint(1000, 9999)}@proton.me"
            card, verified = f"card-h{i % 4}", False
        else:
            ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            created = t0 - timedelta(days=rng.randint(5, 900), minutes=rng.randint(0, 1440))
            email = f"user{i}@{rng.choice(['gmail.com', 'outlook.com', 'corp.example', 'uni.example.edu'])}"
            card, verified = f"card-{i}", rng.random() < 0.6
        for k, v in (("account_id", acc), ("created_at", created), ("email", email), ("payment_fingerprint", card),
                     ("verified", verified), ("signup_ip", ip)):
            ac[k].append(v)
        start = t0 + timedelta(minutes=rng.randint(0, 5) if is_h else rng.randint(0, 20_000))
        for k in range(per_account):
            ev["request_id"].append(f"r{i:06d}-{k}")
            ev["ts"].append(start + timedelta(minutes=4 * k if is_h else rng.randint(0, 5000)))
            ev["account_id"].append(acc)
            ev["ip"].append(ip)
            ev["user_agent"].append("python-requests/2.31" if is_h else rng.choice(uas))
            ev["prompt"].append(tpl.format(rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 99)) if is_h
                                else rng.choice(prompts))
    con = duckdb.connect()
    con.register("_ev", pa.table(ev))
    con.register("_ac", pa.table(ac))
    con.execute("create view events as select * from _ev")
    con.execute("create view accounts as select * from _ac")
    scores = pa.table({"account_id": ac["account_id"],
                       "score": [0.35 if a in bad else rng.uniform(0.0, 0.4) for a in ac["account_id"]]})
    return ScanContext(con=con, has_accounts=True), scores, bad


def bench_campaigns(n_accounts: int, prompts: list[str]) -> dict[str, object]:
    ctx, scores, bad = synthetic_world(n_accounts, prompts)
    n_events = ctx.con.sql("select count(*) from events").fetchall()[0][0]
    t = time.perf_counter()
    res = find_campaigns(ctx, scores, Settings())
    dt = time.perf_counter() - t
    best = max(res.campaigns, key=lambda c: len(set(c.account_ids) & bad), default=None)
    found = len(set(best.account_ids) & bad) if best else 0
    benign_in_campaigns = sum(len(set(c.account_ids) - bad) for c in res.campaigns)
    return {"accounts": n_accounts, "events": n_events, "seconds": round(dt, 2), **res.stats,
            "campaigns_reported": len(res.campaigns), "hydra_members_found": found, "hydra_size": len(bad),
            "benign_accounts_in_reported_campaigns": benign_in_campaigns}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--sketch-prompts", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = ap.parse_args()
    prompts = corpus_prompts(args.corpus, args.sketch_prompts)
    out: dict[str, object] = {"machine": "shared 2-core dev box (contended)"}
    out["sketch"] = bench_sketch(prompts)
    print("sketch:", out["sketch"])
    with tempfile.TemporaryDirectory() as tmp:
        out["corpus_index"] = bench_index(args.corpus, Path(tmp))
    print("corpus index:", out["corpus_index"])
    out["campaigns"] = bench_campaigns(args.accounts, prompts[:20_000])
    print("campaigns:", out["campaigns"])
    res_dir = ROOT / "bench" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "templates_campaigns.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
