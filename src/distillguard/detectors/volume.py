"""Signal 1 — volume and rate against the account's tier and age.

Distillation needs many outputs, so harvesting accounts run far above what their plan
and age suggest (a two-day-old free account making thousands of requests a day), and
favour long outputs from short inputs. Expectations per tier are parameters, so an
enterprise pipeline running at enterprise volume scores low. The score is a fixed
logistic of log2(rate / expected), damped by how much evidence there is.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, signal_table
from distillguard.features.account import confidence, fetch, noisy_or, sigmoid

DEFAULT_TIERS = {"free": 100.0, "build": 1_000.0, "scale": 10_000.0, "enterprise": 100_000.0}


class VolumeDetector(Detector):
    name: ClassVar[str] = "volume"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id")
    description: ClassVar[str] = "Requests per day and output/input tokens against the account's tier and age."

    def __init__(self, *, tier_daily: dict[str, float] | None = None, default_daily: float = 1_000.0,
                 new_account_days: float = 7.0, w_tokens: float = 0.15, token_ratio_mid: float = 10.0, new_account_factor: float = 0.5, min_span_hours: float = 24.0,
                 evidence_half: float = 30.0) -> None:
        self.tier_daily = tier_daily
        self.default_daily = default_daily
        self.new_account_days = new_account_days
        self.new_account_factor = new_account_factor
        self.w_tokens = w_tokens
        self.token_ratio_mid = token_ratio_mid
        self.min_span_hours = min_span_hours
        self.evidence_half = evidence_half

    def expected_daily(self, tier: str | None, age_days: float | None) -> float:
        """Typical ceiling of requests/day for a tier, halved for accounts younger than a week."""
        tiers = {**DEFAULT_TIERS, **(self.tier_daily or {})}
        exp = tiers.get((tier or "").lower(), self.default_daily)
        if age_days is not None and age_days < self.new_account_days:
            exp *= self.new_account_factor
        return exp

    def detect(self, ctx: ScanContext) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for r in fetch(ctx, "account_id, n, first_ts, last_ts, prompt_tokens, completion_tokens, "
                            "reasoning_tokens, tier, created_at, ex_any"):
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
            score = confidence(n, self.evidence_half) * noisy_or([s_rate, self.w_tokens * s_tok])
            tier = r["tier"] or "unknown"
            age_txt = f", account {age:.0f} days old at first request" if age is not None else ""
            tok_txt = f"; {ratio:.1f} output tokens per input token" if in_tok > 0 else ""
            rows.append({
                "account_id": r["account_id"], "score": score, "value": rate,
                "detail": (f"{n:,} requests at ~{rate:,.0f}/day over {span_h / 24:.1f} days on a {tier}-tier "
                           f"account{age_txt} (typical ≤ {exp:,.0f}/day){tok_txt}"),
                "examples": r["ex_any"] or [],
            })
        return signal_table(rows)
