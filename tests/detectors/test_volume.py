"""Signal 1: volume and rate against tier and account age."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from core_world import T0, accounts, details, rows, scores, table
from distillguard.detectors.volume import VolumeDetector
from distillguard.scan import context


def _burst(acc: str, n: int, gap: float) -> list[dict]:
    return rows(acc, [f"q {i}" for i in range(n)], np.full(n, gap))


def test_rate_is_judged_against_tier_and_age() -> None:
    ev = table(_burst("newfree", 2000, 20), _burst("ent", 2000, 20), _burst("small", 30, 600))
    acc = accounts([
        {"account_id": "newfree", "tier": "free", "created_at": T0 - timedelta(days=1)},
        {"account_id": "ent", "tier": "enterprise", "created_at": T0 - timedelta(days=900)},
        {"account_id": "small", "tier": "free", "created_at": T0 - timedelta(days=300)},
    ])
    out = VolumeDetector().detect(context(ev, acc))
    s = scores(out)
    assert s["newfree"] > 0.9          # ~4,300/day on a 1-day-old free account
    assert s["ent"] < 0.05             # same rate is ordinary for enterprise
    assert s["small"] < 0.1
    d = details(out)["newfree"]
    assert "free-tier" in d and "/day" in d and "1 days old" in d


def test_params_change_expectations() -> None:
    ev = table(_burst("a", 500, 30))
    lo = scores(VolumeDetector(default_daily=100_000).detect(context(ev)))["a"]
    hi = scores(VolumeDetector(default_daily=50).detect(context(ev)))["a"]
    assert hi > 0.8 > 0.05 > lo


def test_empty_events_give_empty_signal() -> None:
    ev = table(_burst("a", 3, 1)).slice(0, 0)
    assert VolumeDetector().detect(context(ev)).num_rows == 0
