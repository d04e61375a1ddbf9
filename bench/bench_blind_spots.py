"""Measured recall with each common column set: what a scan loses when logs lack columns.

A simulated world (default: scenario ``small``, seed 1, both providers) is scanned once per
column set below, dropping the other optional columns (and, where said, the accounts
table), and evaluated against its labels: flag recall, benign false-positive rate, PR-AUC
and campaign recall (any member flagged), pooled over the providers. The blind-spot
notices the scan printed are recorded too.

    python bench/bench_blind_spots.py [--scenario small] [--seed 1]

Prints a table and writes bench/results/blind_spots.json (docs/detection.md quotes it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIRED = ["request_id", "ts", "account_id", "prompt"]

COLUMN_SETS: list[tuple[str, list[str] | None, bool]] = [
    # (name, event columns kept besides the required ones (None: all), with accounts table)
    ("all columns + accounts", None, True),
    ("no ip / user_agent / api_key_id",
     ["model", "conversation_id", "system_prompt", "response", "prompt_tokens", "completion_tokens",
      "reasoning_tokens"], True),
    ("no conversation_id",
     ["api_key_id", "ip", "user_agent", "model", "system_prompt", "response", "prompt_tokens",
      "completion_tokens", "reasoning_tokens"], True),
    ("the four required columns + accounts", [], True),
    ("all event columns, no accounts", None, False),
    ("no ip / user_agent / api_key_id, no accounts",
     ["model", "conversation_id", "system_prompt", "response", "prompt_tokens", "completion_tokens",
      "reasoning_tokens"], False),
    ("no conversation_id, no accounts",
     ["api_key_id", "ip", "user_agent", "model", "system_prompt", "response", "prompt_tokens",
      "completion_tokens", "reasoning_tokens"], False),
    ("prompt + tokens + system prompt only", ["system_prompt", "prompt_tokens", "completion_tokens",
                                              "reasoning_tokens"], False),
    ("the four required columns alone", [], False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "blind_spots.json")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from distillguard.evaluate import evaluate
    from distillguard.findings import read_findings
    from distillguard.scan.run import scan

    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-blind-"))
    world = tmp / "world"
    subprocess.run([sys.executable, "-c", "from distillguard.cli import main; main()", "simulate", "--scenario",
                    args.scenario, "--seed", str(args.seed), "--out", str(world)], check=True, capture_output=True)
    providers = sorted(p.name for p in world.iterdir() if (p / "events.parquet").exists())
    results = []
    for name, keep, with_accounts in COLUMN_SETS:
        tp = fn = fp = tn = 0
        found = total = 0
        notices: set[str] = set()
        aucs = []
        for prov in providers:
            ev = pq.read_table(world / prov / "events.parquet")
            cols = ev.column_names if keep is None else REQUIRED + keep
            src = tmp / f"{prov}-{len(results)}.parquet"
            pq.write_table(ev.select(cols), src)
            res = scan(src, tmp / f"f-{prov}-{len(results)}",
                       accounts=(world / prov / "accounts.parquet") if with_accounts else None, report=False)
            notices.update(res.blind_spots.get("notices", []))
            labels = pq.read_table(world / prov / "labels.parquet")
            r = evaluate(read_findings(res.out), labels, provider=prov)
            f = r["at_flag"]
            tp, fn, fp, tn = tp + f["tp"], fn + f["fn"], fp + f["fp"], tn + f["tn"]
            aucs.append(r["pr_auc"])
            camps = list((r.get("campaigns") or {}).values())
            found += sum(1 for c in camps if c.get("found"))
            total += len(camps)
        row = {"column_set": name, "event_columns": "all" if keep is None else REQUIRED + keep,
               "accounts": with_accounts, "flag_recall": round(tp / (tp + fn), 4) if tp + fn else None,
               "benign_fpr": round(fp / (fp + tn), 4) if fp + tn else None,
               "pr_auc_mean": round(sum(a for a in aucs if a is not None) / max(1, len(aucs)), 4),
               "campaign_recall": round(found / total, 4) if total else None, "blind_spots": sorted(notices)}
        results.append(row)
        print(f"{name:48s} recall {row['flag_recall']:.1%}  FPR {row['benign_fpr']:.2%}  "
              f"PR-AUC {row['pr_auc_mean']:.3f}  campaigns {row['campaign_recall']}")
    out = {"scenario": args.scenario, "seed": args.seed, "providers": providers, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
