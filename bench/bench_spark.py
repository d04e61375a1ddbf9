"""`scan --engine spark` throughput and memory on local[1], local[2], local[4] beside DuckDB.

For each size (default 1M and 4M events; the ``large`` scenario rescaled with ``--events``,
cached in ``--work``), each engine scans the same world folder end to end in a child
process (``--no-report``), and the bench records wall and CPU time, events/s and the peak
resident memory of the whole process tree, sampled from /proc every 0.25 s: the driver
(Python), the JVM (in local mode the one executor, with N task slots) and the Python
workers the Arrow UDFs run in. "Memory per executor" is JVM + workers, per executor (local
mode has one executor with N cores, so it is also divided by N for "per core").

Writes bench/results/spark.json after every run (a long run can be stopped and what ran
is kept). Usage:
    python bench/bench_spark.py [--sizes 1000000 4000000] [--masters 1 2 4] [--work /tmp/dg_spark_bench]
On a shared 2-core machine local[4] oversubscribes the cores; read CPU seconds beside wall.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "spark.json"
CLI = [str(Path(sys.executable).parent / "distillguard")]

_SCAN = """
import json, sys, time
from distillguard.config import Settings
from distillguard.scan.run import scan
s = Settings()
engine = sys.argv[4]
if engine != "duckdb":
    s.spark.master = engine
    s.spark.shuffle_partitions = int(sys.argv[5])
r = scan(sys.argv[1], sys.argv[2], settings=s, report=False, engine_name="duckdb" if engine == "duckdb" else "spark")
json.dump({"events": r.events, "timings": r.timings, "detail": r.detail_timings, "errors": r.errors,
           "flagged": sum(v == "flag" for v in r.findings.accounts.column("verdict").to_pylist()),
           "accounts": r.findings.accounts.num_rows, "campaigns": len(r.findings.campaigns)}, open(sys.argv[3], "w"))
"""


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _rss_kb(pid: int) -> tuple[int, str]:
    try:
        txt = open(f"/proc/{pid}/status").read()
        name = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return 0, ""
    for line in txt.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]), name
    return 0, name


def run_scan(world: Path, out: Path, engine: str, partitions: int) -> dict[str, object]:
    stats = out.with_suffix(".json")
    p = subprocess.Popen([sys.executable, "-c", _SCAN, str(world), str(out), str(stats), engine, str(partitions)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"total": 0, "jvm": 0, "workers": 0, "driver": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            parts = {"jvm": 0, "workers": 0, "driver": 0}
            for q in _tree(p.pid):
                kb, name = _rss_kb(q)
                key = "jvm" if name == "java" else "driver" if q == p.pid else "workers"
                parts[key] += kb
            tot = sum(parts.values())
            if tot > peak["total"]:
                peak.update(parts, total=tot)
            time.sleep(0.25)

    th = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    th.start()
    err = p.stderr.read() if p.stderr else ""
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if os.waitstatus_to_exitcode(status) != 0:
        out.with_suffix(".stderr").write_text(err)
        py = [ln for ln in err.splitlines() if not ln.startswith("\tat ") and "Stage" not in ln]
        raise SystemExit(f"{engine} scan failed (full stderr in {out.with_suffix('.stderr')}):\n" + "\n".join(py[-60:]))
    st = json.loads(stats.read_text())
    ev = int(st["events"])
    n_exec_cores = int(engine[6:-1]) if engine.startswith("local[") else 0
    row = {"engine": "duckdb" if engine == "duckdb" else "spark", "master": None if engine == "duckdb" else engine,
           "events": ev, "accounts": st["accounts"], "flagged": st["flagged"], "campaigns": st["campaigns"],
           "wall_s": round(wall, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
           "events_per_s": round(ev / wall), "peak_tree_mb": round(peak["total"] / 1024),
           "peak_driver_mb": round(peak["driver"] / 1024), "stages_s": {k: round(v, 1) for k, v in st["timings"].items()},
           "errors": st["errors"]}
    if n_exec_cores:
        ex = (peak["jvm"] + peak["workers"]) / 1024
        row.update({"executors": 1, "cores_per_executor": n_exec_cores, "memory_per_executor_mb": round(ex),
                    "jvm_mb": round(peak["jvm"] / 1024), "python_workers_mb": round(peak["workers"] / 1024),
                    "memory_per_core_mb": round(ex / n_exec_cores)})
    return row


DOC = REPO / "docs" / "scale-out.md"
BEGIN, END = "<!-- spark-bench:begin -->", "<!-- spark-bench:end -->"


def write_doc(payload: dict[str, object]) -> None:
    """Replace the benchmark table of docs/scale-out.md (between its markers) with these runs."""
    m = payload["machine"]  # type: ignore[index]
    lines = [BEGIN, f"Generated {payload['generated']} by `{payload['command']}` on {m['cores']} cores "  # type: ignore[index]
             f"({m['platform']}, Python {m['python']}), {m['note']}. CPU s is the scan process and the children it "  # type: ignore[index]
             "waited for: for Spark rows the JVM's CPU is missing, read wall time.", "",
             "| events | engine | wall s | events/s | CPU s | peak MB (tree) | MB per executor (JVM + Python workers) | "
             "MB per core | flagged | campaigns | stages (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(payload["runs"], key=lambda r: (r["target_events"], r.get("master") or "")):  # type: ignore[arg-type]
        stages = ", ".join(f"{k} {v}" for k, v in r["stages_s"].items())
        lines.append(f"| {r['events']:,} | {r['master'] or 'duckdb'} | {r['wall_s']} | {r['events_per_s']:,} | {r['cpu_s']} "
                     f"| {r['peak_tree_mb']:,} | {r.get('memory_per_executor_mb', '–')} | {r.get('memory_per_core_mb', '–')} "
                     f"| {r['flagged']} | {r['campaigns']} | {stages} |")
    lines.append(END)
    text = DOC.read_text()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: "\n".join(lines), text, flags=re.S)
        DOC.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--masters", type=int, nargs="+", default=[1, 2, 4], help="N of local[N] runs")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dg_spark_bench"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--no-duckdb", action="store_true")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    payload: dict[str, object] = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/bench_spark.py " + " ".join(sys.argv[1:]),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "shared with other work; local[N] with N > cores oversubscribes"},
        "runs": [],
    }
    prev = json.loads(OUT.read_text()) if OUT.exists() else {}
    for n in a.sizes:
        world = a.work / f"w{n}"
        if not world.exists():
            cmd = CLI + ["simulate", "--scenario", "large", "--seed", str(a.seed), "--events", str(n), "--out", str(world)]
            if a.corpus.is_dir():
                cmd += ["--corpus", str(a.corpus)]
            subprocess.run(cmd, check=True, capture_output=True)
        engines = ([] if a.no_duckdb else ["duckdb"]) + [f"local[{m}]" for m in a.masters]
        for eng in engines:
            row = run_scan(world, a.work / f"f{n}_{eng.replace('[', '').replace(']', '')}", eng,
                           max(2, 2 * int(eng[6:-1])) if eng != "duckdb" else 0)
            row["target_events"] = n
            payload["runs"].append(row)  # type: ignore[union-attr]
            print(json.dumps(row), flush=True)
            keep = [r for r in prev.get("runs", []) if (r["target_events"], r.get("master")) not in
                    {(x["target_events"], x.get("master")) for x in payload["runs"]}]  # type: ignore[union-attr]
            full = {**payload, "runs": keep + payload["runs"]}  # type: ignore[operator]
            OUT.write_text(json.dumps(full, indent=1))
            write_doc(full)


if __name__ == "__main__":
    main()
