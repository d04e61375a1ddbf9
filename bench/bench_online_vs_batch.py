"""Online guard vs nightly batch scan: exchanges each campaign harvests before it is stopped.

Why: the point of the real-time guard (issue 5) is that a nightly scan lets a hydra network
harvest all night. This measures it on a simulated world with labels:

1. ``distillguard simulate --scenario default --events N --seed S --out /tmp/sv_w``;
2. per provider, a full batch scan (its ``first_flag_ts`` says when each account would first
   have been flagged) and a "nightly" scan with ``--until`` the start of day ``k`` that seeds
   the service (scores + campaign membership), as a deployment would;
3. ``distillguard serve`` (a real subprocess on 127.0.0.1) seeded with that scan; the log from
   day ``k`` on is replayed into it at speed 0 in time order, and each account's first
   throttle/block is recorded (``cold``: the same without any seed, the whole log);
4. the nightly batch baseline: an account is stopped at the first 00:00 UTC after its
   ``first_flag_ts`` (the next nightly scan would flag it); never flagged = never stopped.

Per campaign it reports the exchanges its accounts got answered before each was first
throttled/blocked online vs before the nightly batch action, and the benign accounts the
guard throttled/blocked (false actions) per persona. Both schedules are compared on the same
window (day ``k`` to the end for ``seeded``; the whole log for ``cold``).

    .venv/bin/python bench/bench_online_vs_batch.py [--events 200000] [--seed 0] [--seed-days 7]

Writes bench/results/online_vs_batch.json. Uses /tmp/sv_* only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
from distillguard.testing.server import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from distillguard.cli import main; main()"]
DAY = 86400.0


def sh(args: list[str], log: Path) -> None:
    with log.open("w") as fh:
        subprocess.run(args, check=True, stdout=fh, stderr=subprocess.STDOUT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scan(events: Path, out: Path, until: str | None, reuse: bool) -> Path:
    if not (reuse and (out / "accounts.parquet").exists()):
        shutil.rmtree(out, ignore_errors=True)
        sh([*CLI, "scan", str(events), "--out", str(out), "--no-report", *(["--until", until] if until else [])],
           Path(str(out) + ".log"))
    return out


def run_online(events: Path, window_start: float | None, findings: Path | None, tmp: Path, tiers: dict[str, str],
               sets: list[str]) -> dict[str, Any]:
    """Serve (seeded or cold), replay the window at speed 0, return first actions per account."""
    from distillguard.service.replay import replay

    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "window.parquet"
    where = f"WHERE epoch_us(ts) / 1e6 >= {window_start}" if window_start is not None else ""
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{events}/events.parquet') {where}) TO '{log}' (FORMAT parquet)")
    state = tmp / "state.db"
    for f in tmp.glob("state.db*"):
        f.unlink()
    port = free_port()
    args = [*CLI, "serve", "--port", str(port), "--set", f"service.state_path='{state}'"]
    if findings is not None:
        args += ["--set", f"service.findings_dir='{findings}'"]
    for s in sets:
        args += ["--set", s]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=(tmp / "serve.log").open("w"))
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}")
        summ = replay(log, f"http://127.0.0.1:{port}", speed=0.0, batch=500, tier_of=tiers, timeout_s=120)
    finally:
        server.terminate()
        server.wait(60)
    return {"summary": summ.to_dict(), "first": summ.first_action, "n": summ.events_per_account}


def nightly_stop(findings: Path) -> dict[str, float]:
    """Account → time the nightly batch acts (next 00:00 UTC after first_flag_ts)."""
    rows = duckdb.sql(f"SELECT account_id, epoch_us(first_flag_ts) / 1e6 FROM read_parquet('{findings}/accounts.parquet') "
                      "WHERE first_flag_ts IS NOT NULL").fetchall()
    return {a: (t // DAY + 1) * DAY for a, t in rows}


def compare(events: Path, labels: Path, window_start: float | None, online: dict[str, Any],
            stop: dict[str, float]) -> dict[str, Any]:
    """Per campaign: exchanges before online action vs before nightly batch action; benign false actions."""
    where = f"WHERE epoch_us(ts) / 1e6 >= {window_start}" if window_start is not None else ""
    ev = duckdb.sql(f"SELECT account_id, epoch_us(ts) / 1e6 AS t FROM read_parquet('{events}/events.parquet') {where} ORDER BY t").fetchall()
    lab = {a: (label, persona, cid) for a, label, persona, cid in
           duckdb.sql(f"SELECT account_id, label, persona, campaign_id FROM read_parquet('{labels}')").fetchall()}
    first: dict[str, tuple[int, str, float]] = online["first"]
    seen: Counter[str] = Counter()
    camp: dict[str, dict[str, Any]] = defaultdict(lambda: {"accounts": set(), "events": 0, "online_harvest": 0,
                                                           "batch_harvest": 0, "guard_harvest": 0, "events_ts": []})
    for aid, t in ev:
        label, persona, cid = lab.get(aid, ("benign", "unknown", None))
        seen[aid] += 1
        if label != "distillation":
            continue
        c = camp[cid or f"solo:{aid}"]
        c["accounts"].add(aid)
        c["events"] += 1
        c["events_ts"].append((t, aid))
        fa = first.get(aid)
        online_ok = fa is None or seen[aid] < fa[0]
        batch_ok = t < stop.get(aid, float("inf"))
        c["online_harvest"] += online_ok
        c["batch_harvest"] += batch_ok
        c["guard_harvest"] += online_ok and batch_ok  # deployed guard: online + reseeded every night
    out_c = {}
    for cid, c in sorted(camp.items()):
        members = c["accounts"]
        on_t = min((first[a][2] for a in members if a in first), default=None)
        ba_t = min((stop[a] for a in members if a in stop), default=None)
        out_c[cid] = {
            "accounts": len(members), "exchanges": c["events"],
            "online_harvested": c["online_harvest"], "batch_harvested": c["batch_harvest"],
            "guard_harvested": c["guard_harvest"],
            "online_accounts_stopped": sum(a in first for a in members),
            "batch_accounts_stopped": sum(a in stop and stop[a] <= max(t for t, x in c["events_ts"] if x == a) for a in members),
            "online_before_first_action": sum(1 for t, _ in c["events_ts"] if on_t is None or t < on_t),
            "batch_before_first_action": sum(1 for t, _ in c["events_ts"] if ba_t is None or t < ba_t),
            "online_first_action_h": round(max(0.0, on_t - c["events_ts"][0][0]) / 3600, 2) if on_t else None,
            "batch_first_action_h": round(max(0.0, ba_t - c["events_ts"][0][0]) / 3600, 2) if ba_t else None,
        }
    persona_n: Counter[str] = Counter()
    online_fa: Counter[str] = Counter()
    batch_fa: Counter[str] = Counter()
    window_end = ev[-1][1] if ev else 0.0
    for aid in seen:
        label, persona, _ = lab.get(aid, ("benign", "unknown", None))
        if label == "distillation":
            continue
        persona_n[persona] += 1
        online_fa[persona] += aid in first
        batch_fa[persona] += stop.get(aid, float("inf")) <= window_end
    benign = {p: {"accounts": persona_n[p], "online_false_actions": online_fa[p], "batch_false_flags": batch_fa[p]}
              for p in sorted(persona_n)}
    tot = {k: sum(c[k] for c in out_c.values()) for k in ("exchanges", "online_harvested", "batch_harvested", "guard_harvested")}
    return {"campaigns": out_c, "totals": tot, "benign": benign,
            "benign_totals": {"accounts": sum(persona_n.values()), "online_false_actions": sum(online_fa.values()),
                              "batch_false_flags": sum(batch_fa.values())},
            "online_actions": online["summary"]["actions"], "replay_events_per_s": online["summary"]["events_per_s"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--seed-days", type=int, default=7, help="days scanned to seed the service (nightly scan)")
    ap.add_argument("--modes", default="seeded,cold")
    ap.add_argument("--providers", default="")
    ap.add_argument("--reuse", action="store_true", help="reuse /tmp/sv_* world and scans if present")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="server setting override")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "online_vs_batch.json"))
    args = ap.parse_args()
    world = Path(f"/tmp/sv_w{'' if args.seed == 0 else args.seed}")
    if not (args.reuse and (world / "manifest.json").exists()):
        shutil.rmtree(world, ignore_errors=True)
        sh([*CLI, "simulate", "--scenario", args.scenario, "--events", str(args.events), "--seed", str(args.seed),
            "--out", str(world)], Path(f"{world}.log"))
    manifest = json.loads((world / "manifest.json").read_text())
    providers = args.providers.split(",") if args.providers else sorted(manifest["providers"])
    res: dict[str, Any] = {"world": {"scenario": args.scenario, "events": manifest["events"], "seed": args.seed,
                                     "days": manifest.get("days")}, "seed_days": args.seed_days, "providers": {}}
    t_all = time.perf_counter()
    for p in providers:
        pdir = world / p
        tiers = dict(duckdb.sql(f"SELECT account_id, tier FROM read_parquet('{pdir}/accounts.parquet') WHERE tier IS NOT NULL").fetchall())
        t0 = duckdb.sql(f"SELECT epoch_us(min(ts)) / 1e6 FROM read_parquet('{pdir}/events.parquet')").fetchall()[0][0]
        day_k = (t0 // DAY + args.seed_days) * DAY
        until = datetime.fromtimestamp(day_k, timezone.utc).isoformat()
        full = scan(pdir, Path(f"/tmp/sv_scan_full_{p}{args.seed or ''}"), None, args.reuse)
        stop = nightly_stop(full)
        pres: dict[str, Any] = {}
        for mode in args.modes.split(","):
            print(f"[{p}] {mode} …", flush=True)
            if mode == "seeded":
                nightly = scan(pdir, Path(f"/tmp/sv_scan_seed_{p}{args.seed or ''}"), until, args.reuse)
                on = run_online(pdir, day_k, nightly, Path(f"/tmp/sv_on_{p}_{mode}"), tiers, args.sets)
                pres[mode] = {"window_start": until, **compare(pdir, pdir / "labels.parquet", day_k, on, stop)}
            else:
                on = run_online(pdir, None, None, Path(f"/tmp/sv_on_{p}_{mode}"), tiers, args.sets)
                pres[mode] = {"window_start": None, **compare(pdir, pdir / "labels.parquet", None, on, stop)}
            print(json.dumps({k: pres[mode][k] for k in ("totals", "benign_totals")}), flush=True)
        res["providers"][p] = pres
    summary: dict[str, Any] = {}
    for mode in args.modes.split(","):
        agg = Counter()
        for p in providers:
            r = res["providers"][p][mode]
            agg.update(r["totals"])
            agg.update({"benign_accounts": r["benign_totals"]["accounts"],
                        "online_false_actions": r["benign_totals"]["online_false_actions"],
                        "batch_false_flags": r["benign_totals"]["batch_false_flags"]})
        summary[mode] = dict(agg)
    res["summary"] = summary
    res["config"] = {"server_overrides": args.sets, "wall_s": round(time.perf_counter() - t_all, 1),
                     "load_average_1m_at_end": os.getloadavg()[0]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2, default=list))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
