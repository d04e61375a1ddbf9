"""Signal 1 — volume and rate against the account's tier and age.

Distillation needs many outputs, so harvesting accounts run far above what their plan
and age suggest (a two-day-old free account making thousands of requests a day), and
favour long outputs from short inputs. Expectations per tier are parameters, so an
enterprise pipeline running at enterprise volume scores low. The score is a fixed
logistic of log2(rate / expected), damped by how much evidence there is.

*Sustained harvest rate.* A plan's request ceiling says little about distillation: a
harvester on a paid plan stays well under it. What distillation needs and a person, a
product or a one-off benchmark run does not produce is a *stream of distinct outputs
sustained over days*: hundreds of new prompts a day, every day, for days. People ask tens
of distinct questions a day; products repeat templates; a researcher's benchmark run is
thousands of distinct prompts in one burst of a day or so and then stops. So the detector
also scores distinct prompts per day of the account's span against an absolute reference
(``harvest_daily``), counted only once activity spans more than ``sustain_min_days`` and
fully after ``sustain_min_days + sustain_ramp_days``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.features.account import clip01, confidence, noisy_or, sigmoid

DEFAULT_TIERS = {"free": 100.0, "build": 1_000.0, "scale": 10_000.0, "enterprise": 100_000.0}


class VolumeDetector(Detector):
    optional_columns: ClassVar[tuple[str, ...]] = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "tier", "created_at")
    name: ClassVar[str] = "volume"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id")
    description: ClassVar[str] = "Requests per day and output/input tokens against the account's tier and age."
    group: ClassVar[str] = "shape"
    default_weight: ClassVar[float] = 0.6
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ('n', 'first_ts', 'last_ts', 'prompt_tokens', 'completion_tokens', 'reasoning_tokens', 'tier', 'created_at', 'distinct_prompts', 'ex_any')

    def __init__(self, *, tier_daily: dict[str, float] | None = None, default_daily: float = 1_000.0,
                 new_account_days: float = 7.0, w_tokens: float = 0.15, token_ratio_mid: float = 10.0, new_account_factor: float = 0.5, min_span_hours: float = 24.0,
                 evidence_half: float = 30.0, harvest_daily: float = 250.0, harvest_slope: float = 3.0,
                 sustain_min_days: float = 2.0, sustain_ramp_days: float = 2.0) -> None:
        self.tier_daily = tier_daily
        self.default_daily = default_daily
        self.new_account_days = new_account_days
        self.new_account_factor = new_account_factor
        self.w_tokens = w_tokens
        self.token_ratio_mid = token_ratio_mid
        self.min_span_hours = min_span_hours
        self.evidence_half = evidence_half
        self.harvest_daily = harvest_daily
        self.harvest_slope = harvest_slope
        self.sustain_min_days = sustain_min_days
        self.sustain_ramp_days = sustain_ramp_days

    def sustained_harvest(self, distinct: int, span_days: float) -> tuple[float, float]:
        """(score, distinct prompts per day): a fixed logistic of log2(rate / harvest_daily),
        times how far the activity extends past a one-off burst (0 at ≤ sustain_min_days)."""
        per_day = distinct / max(span_days, 1.0)
        sustain = clip01((span_days - self.sustain_min_days) / max(self.sustain_ramp_days, 1e-9))
        if distinct <= 0 or sustain <= 0.0:
            return 0.0, per_day
        return sustain * sigmoid(self.harvest_slope * math.log2(per_day / self.harvest_daily)), per_day

    def expected_daily(self, tier: str | None, age_days: float | None) -> float:
        """Typical ceiling of requests/day for a tier, halved for accounts younger than a week."""
        tiers = {**DEFAULT_TIERS, **(self.tier_daily or {})}
        exp = tiers.get((tier or "").lower(), self.default_daily)
        if age_days is not None and age_days < self.new_account_days:
            exp *= self.new_account_factor
        return exp

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        n = int(r["n"])
        span_h = (r["last_ts"] - r["first_ts"]).total_seconds() / 3600.0
        rate = n / max(span_h, self.min_span_hours) * 24.0
        age = ((r["first_ts"] - r["created_at"]).total_seconds() / 86400.0) if r["created_at"] else None
        exp = self.expected_daily(r["tier"], age)
        s_rate = sigmoid(1.5 * (math.log2(max(rate, 1e-9) / exp) - 1.0))
        out_tok = (r["completion_tokens"] or 0.0) + (r["reasoning_tokens"] or 0.0)
        in_tok = r["prompt_tokens"] or 0.0
        ratio = out_tok / in_tok if in_tok > 0 else 0.0
        per_req_out = out_tok / n if n else 0.0
        s_tok = sigmoid(1.0 * (ratio - self.token_ratio_mid)) * min(1.0, per_req_out / 800.0)
        s_harv, per_day = self.sustained_harvest(int(r["distinct_prompts"] or 0), span_h / 24.0)
        score = confidence(n, self.evidence_half) * noisy_or([s_rate, self.w_tokens * s_tok, s_harv])
        tier = r["tier"] or "unknown"
        age_txt = f", account {age:.0f} days old at first request" if age is not None else ""
        tok_txt = f"; {ratio:.1f} output tokens per input token" if in_tok > 0 else ""
        return {
            "account_id": r["account_id"], "score": score, "value": rate,
            "detail": (f"{n:,} requests at ~{rate:,.0f}/day over {span_h / 24:.1f} days on a {tier}-tier "
                       f"account{age_txt} (typical ≤ {exp:,.0f}/day){tok_txt}; "
                       f"{per_day:,.0f} distinct prompts/day sustained over {span_h / 24:.1f} days "
                       f"(harvest-like ≥ {self.harvest_daily:,.0f}/day for > {self.sustain_min_days:g} days)") if explain else "",
            "examples": r["ex_any"] or [],
        }
