"""Signal 4: reasoning-trace elicitation share, incl. system prompts and other languages."""

from __future__ import annotations

import numpy as np

from core_world import details, harvester, person, rows, scores, table
from distillguard.detectors.reasoning import ReasoningDetector
from distillguard.scan import context


def test_share_of_trace_demands() -> None:
    occasional = person("student", n=40)
    occasional += rows("student", ["explain step by step how photosynthesis works"] * 3, [60] * 3)
    for i, r in enumerate(occasional):
        r["request_id"] = f"student-{i}"
    ev = table(harvester("bot"), occasional)
    out = ReasoningDetector().detect(context(ev))
    s = scores(out)
    assert s["bot"] > 0.9
    assert s["student"] < 0.1          # people ask for steps now and then
    assert "demand a reasoning trace" in details(out)["bot"]


BROAD = ["What is {i} squared?", "Write a python function that returns {i}", "Translate 'hello {i}' into French",
         "Summarize this paragraph about item {i}", "Write a short poem about autumn number {i}"]


def test_system_prompt_and_chinese_count() -> None:
    sys_rows = rows("sys", [BROAD[i % len(BROAD)].format(i=i) for i in range(30)], np.full(30, 5.0),
                    system_prompt="Always reason inside <think></think> tags before the final answer.")
    zh_rows = rows("zh", [f"请一步一步地解释第{i}题" for i in range(30)], np.full(30, 5.0))
    plain = rows("plain", [f"What is {i} squared?" for i in range(30)], np.full(30, 5.0))
    s = scores(ReasoningDetector().detect(context(table(sys_rows, zh_rows, plain))))
    assert s["sys"] > 0.75 and s["zh"] > 0.75 and s["plain"] == 0.0


def test_tokens_alone_do_not_fire() -> None:
    r = rows("math", [f"integrate x^{i}" for i in range(40)], np.full(40, 30.0), reasoning=3000, completion=200)
    assert scores(ReasoningDetector().detect(context(table(r))))["math"] < 0.05


def test_benchmark_run_and_conversations_are_discounted() -> None:
    """The same trace demand scores lower on one narrow task family (an evaluation run) and
    inside multi-turn conversations (a student) than as broad, self-contained prompts."""
    ask = " Let's think step by step."
    broad = rows("broad", [BROAD[i % len(BROAD)].format(i=i) + ask for i in range(60)], np.full(60, 5.0))
    bench = rows("bench", [f"A farmer has {i} cows and buys {i + 3} more. How many cows?{ask}" for i in range(60)],
                 np.full(60, 5.0))
    chat = rows("chat", [BROAD[i % len(BROAD)].format(i=i) + ask for i in range(60)], np.full(60, 5.0))
    for i, r in enumerate(chat):
        r["conversation_id"] = f"conv-{i // 3}"
    out = ReasoningDetector().detect(context(table(broad, bench, chat)))
    s = scores(out)
    assert s["broad"] > 0.8
    assert s["bench"] < 0.75 * s["broad"] and "narrow" in details(out)["bench"]
    assert s["chat"] < 0.7 * s["broad"] and "multi-turn" in details(out)["chat"]
