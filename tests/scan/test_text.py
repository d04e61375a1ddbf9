"""features/text.py: the per-prompt rules shared by the batch scan and the real-time service."""

from __future__ import annotations

import duckdb
import pytest

from distillguard.features import text as t


def test_mask_collapses_template_slots() -> None:
    a = t.mask('What is 17 * 23? email John Smith at js@x.org, see https://a.b/c "hello there"')
    b = t.mask('What is 4 * 9? email Mary Jones at mj@y.com, see https://z.q "bye now"')
    assert a == b == "what is <num> * <num>? email <name> at <email>, see <url> <str>"
    assert t.mask(None) == ""


@pytest.mark.parametrize("prompt,system,lo", [
    ("Solve 3+4. Let's think step by step.", None, 0.5),
    ("请一步一步地解释这个问题", None, 0.5),
    ("Résous étape par étape", None, 0.5),
    ("Show your full reasoning step by step, then write Final answer: <x>", None, 0.85),
    ("What is 2+2?", "Always think inside <think></think> tags first.", 0.6),
])
def test_elicitation_phrasings(prompt: str, system: str | None, lo: float) -> None:
    assert t.elicitation(prompt, system) >= lo


def test_plain_prompts_do_not_elicit() -> None:
    for p in ["What is the capital of Peru?", "write me a poem about cats", "fix this bug please"]:
        assert t.elicitation(p) == 0.0


@pytest.mark.parametrize("prompt,family", [
    ("Translate this into Spanish: good morning", "translation"),
    ("Write a python function that reverses a string", "code"),
    ("Calculate 17 * 23", "math"),
    ("Summarize the following article", "summarisation"),
    ("Classify the sentiment of this review", "classification"),
    ("Which of the following follows from the premise?", "reasoning"),
    ("Write a poem about the sea", "writing"),
    ("Pretend you are a pirate", "roleplay"),
    ("who wrote hamlet", "qa"),
    ("zzz", "other"),
])
def test_task_family(prompt: str, family: str) -> None:
    assert t.task_family(prompt) == family
    assert family in t.TASK_FAMILIES


def test_followups() -> None:
    assert t.is_followup("make it shorter")
    assert t.is_followup("ok, now what about the second one?")
    assert t.is_followup("继续")
    assert not t.is_followup("Write a detailed essay on the causes of the French revolution.")
    assert not t.is_followup("")


@pytest.mark.parametrize("ua,kind", [
    ("python-requests/2.31.0", "http_lib"), ("curl/8.4.0", "http_lib"), ("aiohttp/3.9", "http_lib"),
    ("OpenAI/Python 1.40.0", "sdk"), ("Anthropic/Python 0.34.0", "sdk"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0", "browser"),
    ("acme-bot/1.0", "unknown"), ("", "none"), (None, "none"),
])
def test_client_kind(ua: str | None, kind: str) -> None:
    assert t.client_kind(ua) == kind


def test_rules_run_identically_in_duckdb() -> None:
    """The batch engine runs the same patterns in DuckDB (RE2); the live path compiles them with
    RE2 too, so they agree even where Python's ``re`` would not: ``\\b`` next to a non-ASCII
    letter ("éit" holds the word "it" for RE2, not for ``re``'s Unicode rules)."""
    import re

    con = duckdb.connect()
    prompts = ["Solve step by step", "Translate into French: hi", "make it shorter", "请一步一步", "hello",
               "éit", "ça it", "Ünïcode how are you?", "naïve\u00a0prove that"]
    rules = ([(fam, pat, rx) for (fam, pat), (_, rx) in zip(t.TASK_FAMILY_RULES, t._family_res())]
             + [(name, pat, t._elicit_res()[name][1]) for name, (_, pat) in t.ELICITATION_PATTERNS.items()]
             + list(zip(("strong", "leading", "pronoun"), (t.FOLLOWUP_STRONG, t.FOLLOWUP_LEADING, t.FOLLOWUP_PRONOUN),
                        t._followup_res())))
    differs = 0
    for p in prompts:
        for name, pat, rx in rules:
            sql = con.execute("SELECT regexp_matches(?, ?)", [p, pat]).fetchall()[0][0]
            assert bool(rx.search(p[: t.HEAD_CHARS])) == sql, (p, name)
            differs += bool(re.search(pat, p)) != sql
    assert differs  # the Unicode cases above are ones Python's own engine reads differently
    assert t.is_followup("éit") is True
