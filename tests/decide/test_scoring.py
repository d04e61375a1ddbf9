"""decide/: fixed calibration, grouped evidence, weights from config, verdicts, inheritance."""

from __future__ import annotations

import math

import pyarrow as pa

from distillguard.config import load_config
from distillguard.decide import combine, default_weights, evidence_to_score, inherit, score_to_evidence, verdict
from distillguard.decide.scoring import groups, inherit_share, weight_of
from distillguard.detectors.base import signal_table


def _sig(**scores: float) -> pa.Table:
    return signal_table([{"account_id": a, "score": s, "detail": f"{a} detail", "examples": [f"{a}-1"]}
                         for a, s in scores.items()])


def test_calibration_is_a_fixed_transform() -> None:
    assert evidence_to_score(0) == 0
    assert math.isclose(evidence_to_score(score_to_evidence(0.8)), 0.8)


def test_no_single_signal_flags_alone() -> None:
    settings = load_config()
    for name, w in default_weights().items():
        acc = combine({name: _sig(a=1.0)}, {name: w})["a"]
        assert verdict(acc.score, settings) != "flag", name


def test_correlated_signals_do_not_stack_but_independent_ones_do() -> None:
    w = default_weights()
    shape = combine({n: _sig(a=1.0) for n in ("templating", "window_test", "automation", "volume")}, w)["a"]
    mixed = combine({n: _sig(a=1.0) for n in ("templating", "reasoning")}, w)["a"]
    assert groups()["templating"] == groups()["window_test"] != groups()["reasoning"]
    assert shape.score < 0.8 <= mixed.score


def test_automation_corroborates_content_but_not_shape() -> None:
    """A scripted CoT harvest flags; a person asking for steps and a scripted, templated
    pipeline with no distillation content do not."""
    w, settings = default_weights(), load_config()
    harvest = combine({"reasoning": _sig(a=1.0), "automation": _sig(a=0.6), "window_test": _sig(a=0.5),
                       "metadata": _sig(a=0.2)}, w)["a"]
    student = combine({"reasoning": _sig(a=1.0), "automation": _sig(a=0.0), "window_test": _sig(a=0.5),
                       "metadata": _sig(a=0.2)}, w)["a"]
    # templating 0.5: a one-template pipeline after the detector's narrow-family discount
    pipeline = combine({"templating": _sig(a=0.5), "window_test": _sig(a=1.0), "automation": _sig(a=1.0),
                        "volume": _sig(a=1.0), "reasoning": _sig(a=0.2)}, w)["a"]
    assert verdict(harvest.score, settings) == "flag"
    assert verdict(student.score, settings) != "flag"
    assert verdict(pipeline.score, settings) != "flag"


def test_reasons_are_ordered_and_carry_details() -> None:
    acc = combine({"reasoning": _sig(a=0.9), "metadata": _sig(a=0.3), "volume": _sig(a=0.0)}, default_weights())["a"]
    assert [r.signal for r in acc.reasons] == ["reasoning", "metadata"]
    assert acc.reasons[0].detail == "a detail" and acc.examples == ["a-1"]


def test_weights_and_thresholds_from_config() -> None:
    s = load_config(overrides=["detectors.reasoning.weight=3.0", "scoring.flag=0.9"])
    assert weight_of("reasoning", s) == 3.0 and weight_of("coverage", s) == default_weights()["coverage"]
    assert verdict(0.85, s) == "watch" and verdict(0.95, s) == "flag" and verdict(0.1, s) == "clear"


def test_campaign_inheritance_only_raises() -> None:
    acc = combine({"metadata": _sig(a=0.2)}, default_weights())["a"]
    inherit(acc, "c1", 0.95, 0.9, 12)
    assert math.isclose(acc.score, 0.855) and acc.reasons[0].signal == "campaign"
    strong = combine({"reasoning": _sig(b=1.0), "coverage": _sig(b=1.0)}, default_weights())["b"]
    before = strong.score
    inherit(strong, "c1", 0.5, 0.9, 12)
    assert strong.score == before


def test_inheritance_share_follows_independent_evidence() -> None:
    """A community of established identities (office NAT, agency seats) cannot flag a member
    by itself; cheap identities or a shared generation template pass the full score on."""
    s = load_config()
    office = inherit_share(cheap=0.0, template=0.05, settings=s)
    hydra = inherit_share(cheap=1.0, template=0.0, settings=s)
    script = inherit_share(cheap=0.0, template=0.45, settings=s)
    assert math.isclose(hydra, 1.0) and math.isclose(script, 1.0)
    assert office == s.scoring.campaign_inherit * s.scoring.campaign_inherit_floor
    acc = combine({"metadata": _sig(a=0.3)}, default_weights())["a"]
    inherit(acc, "office", 0.9, office, 27)   # the strongest benign communities seen score ≤ 0.89
    assert verdict(acc.score, s) != "flag"
    acc2 = combine({"metadata": _sig(a=0.3)}, default_weights())["a"]
    inherit(acc2, "hydra", 0.9, hydra, 40)
    assert verdict(acc2.score, s) == "flag"
