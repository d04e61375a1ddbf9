"""What a cold guard did to each campaign and to customers: the live counterpart of metrics.py.

*Exchanges harvested before the first action*: per campaign, the requests its accounts made
before the guard first challenged, throttled or blocked each of them (all of an account's
requests if it was never acted on). Benign accounts acted on and blocked are counted per
persona. Used by ``distillguard demo`` and bench/bench_live.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa

from distillguard.service.replay import ReplaySummary


def live_outcome(summ: ReplaySummary, labels: pa.Table, provider: str | None = None,
                 batch_verdicts: dict[str, str] | None = None) -> dict[str, Any]:
    lab = {r["account_id"]: r for r in labels.to_pylist() if provider is None or r.get("provider") == provider}
    camp: dict[str, dict[str, Any]] = defaultdict(lambda: {"type": "", "accounts": 0, "acted_on": 0, "exchanges": 0,
                                                           "harvested": 0, "first_action_at": None})
    benign: dict[str, Counter[str]] = defaultdict(Counter)
    for aid, n in summ.events_per_account.items():
        r = lab.get(aid)
        if r is None:
            continue
        fa = summ.first_action.get(aid)
        if r["label"] == "distillation":
            c = camp[r.get("campaign_id") or aid]
            c["type"] = r["persona"]
            c["accounts"] += 1
            c["exchanges"] += n
            c["harvested"] += (fa[0] - 1) if fa else n
            c["acted_on"] += fa is not None
            if fa and (c["first_action_at"] is None or fa[0] < c["first_action_at"]):
                c["first_action_at"] = fa[0]
        else:
            b = benign[r["persona"]]
            b["accounts"] += 1
            b["acted_on"] += fa is not None
            b["blocked"] += aid in summ.blocked
    for c in camp.values():
        c["harvested_share"] = round(c["harvested"] / max(1, c["exchanges"]), 4)
    out: dict[str, Any] = {"campaigns": dict(camp), "benign": {k: dict(v) for k, v in benign.items()}}
    ex = sum(c["exchanges"] for c in camp.values())
    out["harvested_share"] = round(sum(c["harvested"] for c in camp.values()) / max(1, ex), 4)
    out["benign_accounts"] = sum(b["accounts"] for b in benign.values())
    out["benign_acted_on"] = sum(b["acted_on"] for b in benign.values())
    out["benign_blocked"] = sum(b["blocked"] for b in benign.values())
    if batch_verdicts is not None:
        same = [summ.verdicts.get(a, "clear") == batch_verdicts.get(a, "clear") for a in summ.events_per_account if a in lab]
        out["agreement"] = round(sum(same) / max(1, len(same)), 4)
    return out
