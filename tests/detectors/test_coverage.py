"""Signal 5: broad, even, novel coverage vs a person's or product's narrow focus."""

from __future__ import annotations

from core_world import details, enterprise, harvester, person, researcher, scores, table
from distillguard.detectors.coverage import CoverageDetector
from distillguard.scan import context


def test_sweep_is_broad_narrow_personas_are_not() -> None:
    ev = table(harvester("bot", cot=False), enterprise("ent"), researcher("res"), person("p", n=60))
    out = CoverageDetector().detect(context(ev))
    s = scores(out)
    assert s["bot"] > 0.7
    assert s["ent"] < 0.05 and s["res"] < 0.05
    assert s["p"] < 0.2
    assert "effective task families" in details(out)["bot"]


def test_small_accounts_carry_little_evidence() -> None:
    s = scores(CoverageDetector().detect(context(table(harvester("tiny", n=10, cot=False)))))
    assert s["tiny"] < 0.3


def test_diversity_times_volume() -> None:
    """A training set needs thousands of distinct broad prompts; a few hundred varied
    questions (an agency, a curious person over a month) are not a sweep."""
    ev = table(harvester("big", n=3000, cot=False), harvester("mid", n=300, cot=False))
    s = scores(CoverageDetector().detect(context(ev)))
    assert s["big"] > s["mid"] + 0.1
