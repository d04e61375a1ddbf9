"""Signal 2: automation (regular, sleepless, one-shot, raw HTTP) vs bursty people."""

from __future__ import annotations

from core_world import details, enterprise, harvester, person, scores, table
from distillguard.detectors.automation import AutomationDetector
from distillguard.scan import context


def test_scripts_score_above_people() -> None:
    ev = table(harvester("bot"), *(person(f"p{i}", seed=i) for i in range(5)))
    out = AutomationDetector().detect(context(ev))
    s = scores(out)
    assert s["bot"] > 0.8
    assert max(s[f"p{i}"] for i in range(5)) < 0.3
    d = details(out)["bot"]
    assert "inter-arrival CV" in d and "raw HTTP" in d and "0% follow-ups" in d


def test_enterprise_pipeline_is_automated_but_not_maximal() -> None:
    """Honest pipelines are automated too; the SDK client keeps it below a raw-HTTP harvester."""
    s = scores(AutomationDetector().detect(context(table(enterprise("ent"), harvester("bot")))))
    assert 0.4 < s["ent"] < s["bot"]


def test_follow_ups_lower_the_score() -> None:
    convo = person("p", n=60)
    s = scores(AutomationDetector(w_regular=0, w_sleep=0, w_client=0).detect(context(table(convo))))
    assert s["p"] < 0.1
