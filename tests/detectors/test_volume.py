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


def test_sustained_distinct_harvest_scores_but_a_one_off_burst_does_not() -> None:
    """~430 distinct prompts/day for 7 days on a scale plan is far under the plan's request
    ceiling but is a harvest; the same count in one 1-day benchmark burst, or a product
    repeating a few prompts at that rate, is not."""
    n = 3000
    harvest = _burst("harvest", n, 7 * 86400 / n)                       # distinct, 7 days
    bench = _burst("bench", n, 86400 / n)                               # distinct, 1 day
    product = rows("product", [f"q {i % 40}" for i in range(n)], np.full(n, 7 * 86400 / n))
    acc = accounts([{"account_id": a, "tier": "scale", "created_at": T0 - timedelta(days=400)}
                    for a in ("harvest", "bench", "product")])
    out = VolumeDetector().detect(context(table(harvest, bench, product), acc))
    s = scores(out)
    assert s["harvest"] > 0.8
    assert s["bench"] < 0.1
    assert s["product"] < 0.1
    assert "distinct prompts/day sustained over 7.0 days" in details(out)["harvest"]


def test_sustain_ramps_with_duration() -> None:
    det = VolumeDetector()
    assert det.sustained_harvest(3000, 1.5)[0] == 0.0
    assert 0.0 < det.sustained_harvest(3000, 3.0)[0] < det.sustained_harvest(3000, 4.5)[0]
    assert det.sustained_harvest(300, 10.0)[0] < 0.01     # 30/day: a busy person
