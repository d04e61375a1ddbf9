"""Benchmark the real-time guard: decision latency under open-loop load, saturation, memory.

Server (`distillguard serve`) and load generator run as separate processes on 127.0.0.1.
The load generator is open-loop (requests are scheduled at a fixed rate and latency is
measured from the *scheduled* send time, so a stalled server cannot hide its queueing —
no coordinated omission), using raw keep-alive HTTP/1.1 over asyncio/uvloop sockets so the
client is not the bottleneck. One event per request (the gateway's in-path call).

    .venv/bin/python bench/bench_service.py [--rates 1000,2000,5000] [--seconds 5]

Writes bench/results/service.json. Numbers from a shared 2-core machine are contended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from distillguard.testing.server import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "Solve step by step: a train travels {a} km in {b} hours. What is its speed?",
    "Write a Python function that returns the {a}th Fibonacci number.",
    "Translate into French: the meeting on floor {a} starts at {b}.",
    "Summarize this paragraph about the {a} harvest in two sentences.",
    "what about the second one? make it shorter",
    "Classify the sentiment: the product broke after {a} days.",
]


def make_bodies(n: int, accounts: int, seed: int = 0, unique: bool = True) -> list[bytes]:
    """``unique``: every prompt differs (a reference number is appended), so the service's
    per-prompt feature memo never hits — the worst case, like a harvester's traffic."""
    r = random.Random(seed)
    t0 = 1_767_225_600.0
    out = []
    for i in range(n):
        ev = {"request_id": f"b{seed}-{i}", "account_id": f"acct-{r.randrange(accounts)}", "ts": t0 + i * 0.001,
              "prompt": r.choice(PROMPTS).format(a=r.randint(1, 999), b=r.randint(1, 99)) + (f" (ref {seed}.{i})" if unique else ""),
              "user_agent": "openai-python/1.40", "completion_tokens": 300}
        body = orjson.dumps(ev)
        out.append(b"POST /v1/events HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def open_loop(port: int, rate: float, seconds: float, conns: int, accounts: int) -> dict[str, float]:
    """Send ``rate`` req/s for ``seconds``; latency from the scheduled time of each request."""
    n = int(rate * seconds)
    bodies = make_bodies(n, accounts, seed=int(rate))
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    lat: list[float] = []
    errors = 0
    clock = time.perf_counter
    t0 = clock() + 0.05

    async def one(i: int) -> None:
        nonlocal errors
        due = t0 + i / rate
        reader, writer = await pool.get()
        try:
            writer.write(bodies[i])
            status = await _read_response(reader)
            errors += status != 200
        finally:
            pool.put_nowait((reader, writer))
        lat.append(clock() - due)

    tasks = []
    for i in range(n):
        delay = t0 + i / rate - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i)))
    await asyncio.gather(*tasks)
    wall = clock() - t0
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    lat.sort()
    return {"rate": rate, "sent": n, "achieved_rps": round(n / wall, 1), "errors": errors,
            "p50_ms": round(lat[len(lat) // 2] * 1000, 3), "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3),
            "max_ms": round(lat[-1] * 1000, 3)}


async def closed_loop(port: int, seconds: float, conns: int, accounts: int, distinct: int = 100_000) -> dict[str, float]:
    """As many requests as ``conns`` connections can push: throughput at saturation.

    ``distinct`` bodies are cycled: with more than are sent, every prompt is new (the text
    feature memo never hits); with fewer, repeats measure the memoised path."""
    bodies = make_bodies(distinct, accounts, seed=7, unique=distinct > 10_000)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            writer.write(bodies[i % len(bodies)])
            await _read_response(reader)
            done += 1
            i += conns
        writer.close()

    t = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    return {"connections": conns, "requests": done, "distinct_bodies": distinct, "rps": round(done / (time.perf_counter() - t), 1)}


def loadgen_main(args: argparse.Namespace) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    res: dict[str, object] = {"open_loop": []}
    asyncio.run(open_loop(args.port, 500.0, 2.0, args.conns, args.accounts))  # warm-up (regex caches, imports)
    for rate in [float(x) for x in args.rates.split(",")]:
        res["open_loop"].append(asyncio.run(open_loop(args.port, rate, args.seconds, args.conns, args.accounts)))  # type: ignore[union-attr]
    res["saturation"] = asyncio.run(closed_loop(args.port, args.seconds, 16, args.accounts))
    res["saturation_repeated_prompts"] = asyncio.run(closed_loop(args.port, args.seconds, 16, args.accounts, distinct=2_000))
    print(json.dumps(res))


def memory_per_100k() -> dict[str, float]:
    """RSS growth of a process holding 100k active account states (20 events each)."""
    code = r"""
import os, random, gc, dataclasses
from distillguard.service.account_state import AccountState
from distillguard.features.stream import request_features
def rss():
    return int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) * 1024
feats = [request_features({'request_id': str(i), 'ts': 0.0, 'prompt': p, 'user_agent': 'x'}) for i, p in
         enumerate(['Solve step by step %d' % i for i in range(50)] + ['write code %d please' % i for i in range(50)])]
gc.collect(); before = rss()
cache = {}
r = random.Random(0)
for a in range(100_000):
    st = AccountState(f'acct-{a}')
    for k in range(20):
        f = feats[r.randrange(100)]
        st.agg.update(dataclasses.replace(f, ts=k * 7.0, request_id=f'{a}-{k}', rid_hash=r.getrandbits(63)))
    cache[st.account_id] = st
gc.collect(); print((rss() - before) / 1e6)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {"accounts": 100_000, "events_each": 20, "rss_mb": round(float(out.stdout.strip()), 1)}


def flush_stall(accounts: int = 20_000) -> dict[str, float]:
    """In-process: how long a flush of ``accounts`` dirty states blocks the event loop.

    A ticker coroutine re-schedules itself continuously during the flush; the gaps between
    its runs are exactly what a request arriving then would wait (serialisation slices on
    the loop plus GIL hand-offs with the writer thread). Independent of HTTP and of the load
    generator, so less sensitive to a contended machine than the open-loop p99."""
    from distillguard.config import load_config
    from distillguard.service.guard import Guard

    async def run(tmp: str) -> dict[str, float]:
        cfg = load_config(None, [f"service.state_path='{tmp}/s.db'", "service.flush_interval_s=1000"]).service
        g = Guard(cfg)
        await g.start()
        r = random.Random(1)
        for i in range(0, accounts, 100):
            evs = [({"request_id": f"f{j}", "account_id": f"acct-{j}", "prompt": r.choice(PROMPTS).format(a=j, b=j % 97),
                     "user_agent": "openai-python/1.40", "completion_tokens": 300}, 1_767_225_600.0 + j)
                   for j in range(i, i + 100)]
            await g.process(evs)
        lags: list[float] = []
        stop = False

        async def ticker() -> None:
            while not stop:
                t = time.perf_counter()
                await asyncio.sleep(0)
                lags.append(time.perf_counter() - t)

        tk = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        t = time.perf_counter()
        n = await g.flush()
        wall = time.perf_counter() - t
        stop = True
        await tk
        await g.stop()
        lags.sort()
        return {"dirty_states": n, "flush_wall_ms": round(wall * 1e3, 1), "loop_stall_max_ms": round(lags[-1] * 1e3, 3),
                "loop_stall_p99_ms": round(lags[int(len(lags) * 0.99)] * 1e3, 3)}

    return asyncio.run(run(tempfile.mkdtemp(prefix="dg-flush-")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000,2000,5000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="server setting override (repeatable)")
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "service.json"))
    args = ap.parse_args()
    if args.loadgen:
        loadgen_main(args)
        return
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="dg-bench-")
    server = subprocess.Popen(
        [sys.executable, "-c", "from distillguard.cli import main; main()", "serve", "--port", str(port),
         "--set", f"service.state_path='{tmp}/state.db'", *[x for o in args.sets for x in ("--set", o)]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}")
        lg = subprocess.run([sys.executable, __file__, "--loadgen", "--port", str(port), "--rates", args.rates,
                             "--seconds", str(args.seconds), "--conns", str(args.conns), "--accounts", str(args.accounts)],
                            capture_output=True, text=True, check=True)
        res = json.loads(lg.stdout.strip().splitlines()[-1])
        rss_kb = int([ln for ln in open(f"/proc/{server.pid}/status") if ln.startswith("VmRSS")][0].split()[1])
        res["server_rss_mb_after"] = round(rss_kb / 1024, 1)
    finally:
        server.terminate()
        server.wait(30)
    res["memory_100k_accounts"] = memory_per_100k()
    res["flush_stall_20k_dirty"] = flush_stall()
    res["machine"] = {"load_average_1m_at_end": os.getloadavg()[0], "cpus": os.cpu_count(), "python": platform.python_version(), "note": "2 shared cores, contended; server and load generator on the same cores"}
    res["config"] = {"server_overrides": args.sets, "seconds_per_rate": args.seconds, "connections": args.conns, "accounts": args.accounts,
                     "events_per_request": 1}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
