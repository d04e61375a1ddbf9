"""Outcome metrics: how fast cases are triaged and decided, how often signals were wrong, appeals.

All figures come from the activity log, not from mutable case columns, so they cannot
drift from what happened:

* time to triage: from ``queue`` to the first human activity on the case;
* time to decision: from ``queue`` to the first confirm, dismiss or allowlist;
* false-positive rate by signal: among cases whose latest decision is confirm or dismiss
  (allowlist counts as dismissed), the share dismissed, for each signal the case carries;
* appeal outcomes: appeals granted (dismissed after an appeal) and rejected (confirmed again).

The Prometheus text (``GET /metrics``) is written by hand, as the guard's is
(``distillguard.service.metrics``): counts and quantiles only, no ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from distillguard.console.store import STATUSES, CaseStore

DECISIONS = ("confirm", "dismiss", "allowlist")


@dataclass
class Outcomes:
    cases: int
    by_status: dict[str, int]
    triage_s: list[float] = field(default_factory=list)
    decision_s: list[float] = field(default_factory=list)
    fp_by_signal: dict[str, tuple[int, int]] = field(default_factory=dict)   # signal -> (dismissed, decided)
    appeals: dict[str, int] = field(default_factory=dict)                    # opened / granted / rejected
    activities: dict[str, int] = field(default_factory=dict)
    guard_pending: int = 0

    def q(self, xs: list[float], p: float) -> float | None:
        if not xs:
            return None
        s = sorted(xs)
        return s[min(len(s) - 1, int(p * len(s)))]

    def med(self, xs: list[float]) -> float | None:
        return median(xs) if xs else None


def _t(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def outcomes(store: CaseStore) -> Outcomes:
    by_status = {s: 0 for s in STATUSES}
    for s, n in store.query("SELECT status, count(*) FROM cases GROUP BY 1"):
        by_status[str(s)] = int(n)
    o = Outcomes(sum(by_status.values()), by_status)
    queued: dict[int, str] = {}
    triaged: dict[int, str] = {}
    decided: dict[int, str] = {}
    latest: dict[int, str] = {}
    for cid, typ, ts, actor, data in store.query("SELECT case_id, type, ts, actor, data FROM activities ORDER BY seq"):
        o.activities[str(typ)] = o.activities.get(str(typ), 0) + 1
        if cid is None:
            continue
        cid = int(cid)
        if typ == "queue":
            queued.setdefault(cid, ts)
            continue
        if typ in ("share", "retract") or actor == "import":
            continue   # not a human triage step (intel export, or the allowlist applied at import)
        triaged.setdefault(cid, ts)
        if typ in DECISIONS:
            decided.setdefault(cid, ts)
            latest[cid] = typ
        elif typ == "reopen":
            latest.pop(cid, None)
        if typ == "appeal":
            o.appeals["opened"] = o.appeals.get("opened", 0) + 1
        if '"appeal_outcome":"granted"' in data:
            o.appeals["granted"] = o.appeals.get("granted", 0) + 1
        if '"appeal_outcome":"rejected"' in data:
            o.appeals["rejected"] = o.appeals.get("rejected", 0) + 1
    for cid, ts in triaged.items():
        if cid in queued:
            o.triage_s.append(max(0.0, (_t(ts) - _t(queued[cid])).total_seconds()))
    for cid, ts in decided.items():
        if cid in queued:
            o.decision_s.append(max(0.0, (_t(ts) - _t(queued[cid])).total_seconds()))
    if latest:
        ids = list(latest)
        for chunk in range(0, len(ids), 900):
            part = ids[chunk:chunk + 900]
            for cid, sigs in store.query(f"SELECT id, signals FROM cases WHERE id IN ({','.join('?' * len(part))})", part):
                wrong = latest[int(cid)] != "confirm"
                for s in (sigs or "").split(" ") or []:
                    if s:
                        d, n = o.fp_by_signal.get(s, (0, 0))
                        o.fp_by_signal[s] = (d + int(wrong), n + 1)
    o.guard_pending = store.pending_deliveries()
    return o


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus(o: Outcomes) -> str:
    """The outcomes in the Prometheus text exposition format."""
    out: list[str] = []

    def metric(name: str, typ: str, help_: str, rows: list[tuple[dict[str, str], Any]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {typ}")
        for labels, v in rows:
            lab = ",".join(f'{k}="{_esc(x)}"' for k, x in labels.items())
            out.append(f"{name}{{{lab}}} {float(v):g}" if lab else f"{name} {float(v):g}")

    metric("distillguard_console_cases", "gauge", "Cases by status.", [({"status": s}, n) for s, n in o.by_status.items()])
    for name, xs, what in (("distillguard_console_time_to_triage_seconds", o.triage_s, "queue to first human activity"),
                           ("distillguard_console_time_to_decision_seconds", o.decision_s, "queue to first decision")):
        out.append(f"# HELP {name} Seconds from {what}.")
        out.append(f"# TYPE {name} summary")
        for qq in (0.5, 0.9, 0.99):
            v = o.q(xs, qq)
            out.append(f'{name}{{quantile="{qq}"}} {v if v is not None else float("nan"):g}')
        out.append(f"{name}_sum {sum(xs):g}")
        out.append(f"{name}_count {len(xs)}")
    metric("distillguard_console_decided_cases", "gauge", "Decided cases carrying each signal.",
           [({"signal": s}, n) for s, (_, n) in sorted(o.fp_by_signal.items())])
    metric("distillguard_console_false_positive_ratio", "gauge", "Share of decided cases carrying the signal "
           "that were dismissed.", [({"signal": s}, d / n if n else 0.0) for s, (d, n) in sorted(o.fp_by_signal.items())])
    metric("distillguard_console_appeals_total", "counter", "Appeals opened, granted and rejected.",
           [({"outcome": k}, o.appeals.get(k, 0)) for k in ("opened", "granted", "rejected")])
    metric("distillguard_console_activities_total", "counter", "Activities by type.",
           [({"type": k}, v) for k, v in sorted(o.activities.items())])
    metric("distillguard_console_guard_feedback_pending", "gauge", "Decisions not yet delivered to the guard.",
           [({}, o.guard_pending)])
    return "\n".join(out) + "\n"
