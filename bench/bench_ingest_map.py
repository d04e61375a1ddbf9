"""Cost of reading logs through a mapping (--map) against plain ingest of the same events.

The same N events (a simulated small world, tiled with fresh request and account ids up to
N) are written twice as JSONL: once in the traffic contract, once as OpenAI Chat Completions
logs (nested `messages`, `usage.*`, `choices`, epoch `created`). Each is ingested by
``distillguard.ingest.ingest`` (the code `validate` and `scan` run); the mapped run uses the
packaged `openai` profile. Wall time is the best of ``--repeat`` runs, single process.

    python bench/bench_ingest_map.py                      # 1,000,000 events
    python bench/bench_ingest_map.py --events 200000 --repeat 1

Prints the figures and writes bench/results/ingest_map.json. Target: mapped ≤ 1.5× plain.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "ingest"))


def _world_events(tmp: Path, n: int):  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    world = tmp / "world"
    subprocess.run([sys.executable, "-c",
                    "from distillguard.cli import main; main()", "simulate", "--scenario", "small", "--seed", "1",
                    "--out", str(world)], check=True, capture_output=True)
    base = pa.concat_tables([pq.read_table(world / p / "events.parquet") for p in ("alpha", "beta")])
    parts, k = [], 0
    while sum(t.num_rows for t in parts) < n:
        t = base
        if k:
            t = t.set_column(t.column_names.index("request_id"), "request_id",
                             pc.binary_join_element_wise(t.column("request_id"), pa.scalar(f"-{k}"), ""))
            t = t.set_column(t.column_names.index("account_id"), "account_id",
                             pc.binary_join_element_wise(t.column("account_id"), pa.scalar(f"-{k}"), ""))
        parts.append(t)
        k += 1
    return pa.concat_tables(parts, promote_options="permissive").slice(0, n)


def _write_canonical(events, path: Path) -> None:  # type: ignore[no-untyped-def]
    with open(path, "w", encoding="utf-8") as fh:
        for batch in events.to_batches(50_000):
            for r in batch.to_pylist():
                r["ts"] = r["ts"].isoformat().replace("+00:00", "Z")
                fh.write(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n")


def _write_openai_flat(events, path: Path) -> None:  # type: ignore[no-untyped-def]
    """OpenAI-shaped records, one user turn each (no resent history): same bytes of text as canonical."""
    with open(path, "w", encoding="utf-8") as fh:
        for batch in events.to_batches(50_000):
            for r in batch.to_pylist():
                msgs = ([{"role": "system", "content": r["system_prompt"]}] if r.get("system_prompt") else []) + \
                       [{"role": "user", "content": r["prompt"]}]
                rec = {"id": r["request_id"], "object": "chat.completion", "created": int(r["ts"].timestamp()),
                       "model": r.get("model"), "user": r["account_id"], "messages": msgs,
                       "metadata": {"client_ip": r.get("ip"), "user_agent": r.get("user_agent"),
                                    "api_key_id": r.get("api_key_id"), "conversation_id": r.get("conversation_id")},
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": r.get("response")}}],
                       "usage": {"prompt_tokens": r.get("prompt_tokens"), "completion_tokens": r.get("completion_tokens"),
                                 "completion_tokens_details": {"reasoning_tokens": r.get("reasoning_tokens")}}}
                fh.write(json.dumps(rec) + "\n")


def _time_ingest(src: Path, out: Path, mapping: str | None, repeat: int) -> tuple[float, dict]:
    from distillguard.ingest import ingest

    best, rep = float("inf"), None
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        rep = ingest(src, "events", out, mapping=mapping)
        best = min(best, time.perf_counter() - t0)
    assert rep is not None
    return best, rep.to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ingest_map.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-map-"))
    try:
        ev = _world_events(tmp, args.events)
        canon, mapped = tmp / "events.jsonl", tmp / "openai.jsonl"
        _write_canonical(ev, canon)
        _write_openai_flat(ev, mapped)
        t_plain, r_plain = _time_ingest(canon, tmp / "o1", None, args.repeat)
        t_map, r_map = _time_ingest(mapped, tmp / "o2", "openai", args.repeat)
        assert r_plain["used"] == r_map["used"] == args.events, (r_plain, r_map)
        res = {
            "events": args.events, "repeat": args.repeat,
            "plain_jsonl_s": round(t_plain, 2), "mapped_openai_jsonl_s": round(t_map, 2),
            "ratio": round(t_map / t_plain, 3), "target_ratio": 1.5,
            "plain_events_per_s": round(args.events / t_plain), "mapped_events_per_s": round(args.events / t_map),
            "plain_mb": round(canon.stat().st_size / 1e6, 1), "mapped_mb": round(mapped.stat().st_size / 1e6, 1),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{res['events']:,} events: plain ingest {res['plain_jsonl_s']} s ({res['plain_events_per_s']:,}/s, "
          f"{res['plain_mb']} MB), --map openai {res['mapped_openai_jsonl_s']} s ({res['mapped_events_per_s']:,}/s, "
          f"{res['mapped_mb']} MB): {res['ratio']}x (target ≤ {res['target_ratio']}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
