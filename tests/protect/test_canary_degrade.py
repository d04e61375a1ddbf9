"""Canaries and their registry (keyed hashes only), degrade modes, and the protect policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.protect.canary import (Canaries, CanaryRegistry, contains, null_hit_probability,
                                         poisson_binomial_sf)
from distillguard.protect.degrade import degrade, final_answer, summarise
from distillguard.protect.policy import ProtectPolicy
from distillguard.protect.protector import Protector

SECRET = b"test-secret-0123456789"
GSM = ("Natalia sold 48/2 = 24 clips in May.\nShe also sold 10 more in June.\n"
       "Natalia sold 48+24+10 = 82 clips altogether in April, May and June.\n#### 82")
BBH_TRACE = ("Let's evaluate A: A = not ( True ) = False.\nLet's evaluate B: B = ( True ) = True.\n"
             "Plugging in A and B, we get: Z = A and B = False and True = False. So the answer is False.")


def test_canary_is_keyed_per_account_and_prompt() -> None:
    c = Canaries(SECRET, rate=1.0)
    k1 = c.canary("acct_a", "What is 2 + 2?")
    assert k1 == c.canary("acct_a", "  what is 2 +   2? ")  # normalised prompt
    assert k1 != c.canary("acct_b", "What is 2 + 2?")
    assert len({c.canary("acct_a", f"q{i}").pair for i in range(50)}) > 40
    out = c.insert(GSM, k1)
    assert out.endswith("#### 82") and k1.text in out and contains(out, k1)
    assert not contains(GSM, k1)


def test_trigger_rate() -> None:
    c = Canaries(SECRET, rate=0.1)
    share = sum(c.is_trigger(f"prompt number {i}") for i in range(5000)) / 5000
    assert 0.08 < share < 0.12


def test_registry_round_trip_stores_no_text(tmp_path: Path) -> None:
    db = tmp_path / "canaries.db"
    reg = CanaryRegistry(db)
    prot = Protector(SECRET, ProtectPolicy(canary_rate=1.0), reg)
    prompt = "Natalia sold clips to 48 of her friends in April. How many altogether?"
    out = prot.protect("acct_sus", "throttle", "req-1", prompt, GSM)
    assert out.canary and "canary" in out.applied
    reg.close()
    reg = CanaryRegistry(db)  # reopened: the record survived
    rows = reg.by_prompt(prot.canaries.prompt_hash(prompt))
    assert [(r.account_id, r.request_id) for r in rows] == [("acct_sus", "req-1")]
    expected = prot.canaries.canary("acct_sus", prompt)
    assert rows[0].canary_hash == prot.canaries.hash(expected.text)
    assert contains(out.response, expected)
    assert reg.accounts() == ["acct_sus"] and reg.count() == 1
    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b"")
    for secret_text in (b"Natalia", expected.pair[0].encode(), expected.pair[1].encode(), b"clips"):
        assert secret_text not in raw
    reg.close()


def test_allowed_accounts_get_no_canary() -> None:
    prot = Protector(SECRET, ProtectPolicy(canary_rate=1.0))
    out = prot.protect("acct_ok", "allow", "r", "q", GSM)
    assert not out.canary and out.degrade == "none" and "watermark" in out.applied


def test_canary_null_probability() -> None:
    assert null_hit_probability("no names here") == pytest.approx(1 / (64 * 63))
    assert null_hit_probability("the Voss–Okafor and Novak-Szabo rules") == pytest.approx(2 / (64 * 63))
    assert poisson_binomial_sf(2, [0.1, 0.2, 0.3]) == pytest.approx(0.098)
    assert poisson_binomial_sf(0, [0.5]) == 1.0 and poisson_binomial_sf(3, [0.5, 0.5]) == 0.0


def test_final_answer_formats() -> None:
    assert final_answer(GSM)[0] == "#### 82"
    assert final_answer(BBH_TRACE)[0] == "So the answer is False."
    assert final_answer("Answer: (B)\n")[0] == "Answer: (B)"
    assert summarise(GSM) == "Natalia sold 48+24+10 = 82 clips altogether in April, May and June.\n#### 82"


@pytest.mark.parametrize("action,mode", [("allow", "none"), ("challenge", "none"), ("throttle", "summary"),
                                         ("degrade", "final"), ("block", "final")])
def test_degrade_follows_the_policy(action: str, mode: str) -> None:
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.0))
    inline = prot.protect("acct", action, "r1", "q", GSM)
    separate = prot.protect("acct", action, "r2", "q", "False", reasoning=BBH_TRACE)
    assert inline.degrade == mode
    if mode == "none":
        assert inline.response.count("\n") == GSM.count("\n") and separate.reasoning and "Let" in separate.reasoning
    elif mode == "summary":
        assert inline.response.count("\n") == 1 and inline.response.endswith("#### 82") and "June" in inline.response
        assert "48/2" not in inline.response
        assert separate.reasoning is not None and "Plugging in" in separate.reasoning and "evaluate A" not in separate.reasoning
    else:
        assert inline.response == "#### 82" and separate.reasoning == "" and separate.response == "False"


def test_short_mode_and_custom_policy() -> None:
    long = " ".join(f"Step {i} adds two more apples to the pile." for i in range(60)) + "\n#### 120"
    pol = ProtectPolicy.model_validate({"short_words": 30, "actions": {"throttle": {"degrade": "short"}}})
    out = Protector(SECRET, pol).protect("acct", "throttle", "r", "q", long)
    assert out.degrade == "short" and len(out.response.split()) <= 32 and out.response.endswith("#### 120")
    assert pol.rule("degrade").degrade == "final"  # unlisted actions keep their defaults
    with pytest.raises(ValueError):
        ProtectPolicy.model_validate({"actions": {"banish": {}}})
    with pytest.raises(ValueError):
        degrade("x", None, "erase")
