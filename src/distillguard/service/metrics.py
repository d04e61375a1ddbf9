"""Prometheus text-format metrics, hand-written (a few counters and one histogram).

Kept dependency-free and O(1) per observation: the histogram finds its bucket with
``bisect`` and the exposition is built only when ``/metrics`` is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Callable

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Counters by label, one latency histogram, and gauges read at scrape time."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.decisions: Counter[str] = Counter()
        self.events = 0
        self.store_timeouts = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.lat_sum = 0.0
        self.lat_count = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.lat_sum += seconds
        self.lat_count += 1

    def gauge(self, name: str, help_: str, fn: Callable[[], float]) -> None:
        self.gauges[name] = (help_, fn)

    def render(self) -> str:
        lines = ["# HELP distillguard_requests_total HTTP requests by endpoint and status.",
                 "# TYPE distillguard_requests_total counter"]
        for (path, code), n in sorted(self.requests.items()):
            lines.append(f'distillguard_requests_total{{endpoint="{path}",code="{code}"}} {n}')
        lines += ["# HELP distillguard_events_total Events scored.", "# TYPE distillguard_events_total counter",
                  f"distillguard_events_total {self.events}",
                  "# HELP distillguard_decisions_total Decisions by action.", "# TYPE distillguard_decisions_total counter"]
        for action in ("allow", "throttle", "challenge", "block"):
            lines.append(f'distillguard_decisions_total{{action="{action}"}} {self.decisions[action]}')
        lines += ["# HELP distillguard_store_timeouts_total State-store reads that timed out (fail mode applied).",
                  "# TYPE distillguard_store_timeouts_total counter",
                  f"distillguard_store_timeouts_total {self.store_timeouts}",
                  "# HELP distillguard_decision_latency_seconds Time to decide one POST /v1/events request.",
                  "# TYPE distillguard_decision_latency_seconds histogram"]
        cum = 0
        for le, n in zip(LATENCY_BUCKETS, self.buckets):
            cum += n
            lines.append(f'distillguard_decision_latency_seconds_bucket{{le="{le}"}} {cum}')
        lines.append(f'distillguard_decision_latency_seconds_bucket{{le="+Inf"}} {self.lat_count}')
        lines.append(f"distillguard_decision_latency_seconds_sum {self.lat_sum:.6f}")
        lines.append(f"distillguard_decision_latency_seconds_count {self.lat_count}")
        for name, (help_, fn) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {fn():g}"]
        return "\n".join(lines) + "\n"
