"""Signal 2 — automation: scripted, sleepless, one-shot traffic from raw HTTP clients.

Harvesting at scale is done by scripts: requests arrive at regular intervals (low
coefficient of variation of inter-arrival gaps, where people are bursty), around the
clock (24 distinct hours in a day: no sleep), as self-contained one-shot prompts rather
than conversations whose follow-ups refer back, and often from raw HTTP libraries. Honest
back-end pipelines are automated too, so this signal is moderate on its own and the
weights in decide/ keep it from flagging alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.features.account import clip01, confidence, noisy_or, pct, sigmoid


class AutomationDetector(Detector):
    optional_columns: ClassVar[tuple[str, ...]] = ("user_agent", "conversation_id")
    name: ClassVar[str] = "automation"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Regular inter-arrival times, 24h activity, one-shot prompts, raw HTTP clients."
    group: ClassVar[str] = "behaviour"
    default_weight: ClassVar[float] = 0.6
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ('n', 'gap_mean', 'gap_sd', 'n_gaps', 'max_day_hours', 'followup_share', 'multi_turn_share', 'http_lib_share', 'last_user_agent', 'ex_any')

    def __init__(self, *, regular_cv: float = 0.6, awake_hours: float = 16.0, followup_human: float = 0.1,
                 w_regular: float = 0.7, w_sleep: float = 0.6, w_oneshot: float = 0.5, w_client: float = 0.4,
                 evidence_half: float = 20.0) -> None:
        self.regular_cv = regular_cv
        self.awake_hours = awake_hours
        self.followup_human = followup_human
        self.w_regular = w_regular
        self.w_sleep = w_sleep
        self.w_oneshot = w_oneshot
        self.w_client = w_client
        self.evidence_half = evidence_half

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        n_gaps = int(r["n_gaps"] or 0)
        mean, sd = r["gap_mean"] or 0.0, r["gap_sd"] or 0.0
        cv = sd / mean if mean > 0 else 0.0
        s_reg = sigmoid(6.0 * (self.regular_cv - cv)) if n_gaps >= 5 else 0.0
        hours = int(r["max_day_hours"] or 0)
        s_sleep = clip01((hours - self.awake_hours) / (24.0 - self.awake_hours))
        fu, mt = float(r["followup_share"] or 0.0), float(r["multi_turn_share"] or 0.0)
        s_one = clip01(1.0 - fu / self.followup_human) * clip01(1.0 - mt / 0.5)
        s_cli = float(r["http_lib_share"] or 0.0)
        parts = [self.w_regular * s_reg, self.w_sleep * s_sleep, self.w_oneshot * s_one, self.w_client * s_cli]
        score = confidence(n_gaps, self.evidence_half) * noisy_or(parts)
        detail = (f"inter-arrival CV {cv:.2f} over {n_gaps:,} gaps (scripts < {self.regular_cv}, people ≫ 1); "
                  f"active {hours} distinct hours in its busiest day; {pct(fu)} follow-ups, "
                  f"{pct(mt)} of requests in multi-turn conversations; {pct(s_cli)} from raw HTTP libraries"
                  + (f" (e.g. {r['last_user_agent']!s:.40})" if s_cli > 0 else "")) if explain else ""
        return {"account_id": r["account_id"], "score": score, "value": cv, "detail": detail,
                     "examples": r["ex_any"] or []}
