"""Signal 4 — reasoning-trace elicitation.

A reasoning student is trained on full traces, so harvesters ask for them on nearly
every request: "think step by step", "show your full reasoning", forced ``<think>`` /
``Final answer:`` formats, often fixed in a system prompt, in many languages (the
phrase rules live in features/text.py). People ask for steps now and then; the signal is
the *share* of an account's requests that demand a trace, plus a high reasoning-token
share as supporting evidence. Traces asked for inside multi-turn conversations (a student
working through a problem with follow-ups) are discounted: a distillation set is made of
self-contained prompt/trace pairs, and follow-ups that lean on earlier turns make poor ones.
Traces on one narrow kind of task (a benchmark run: every prompt a grade-school maths
problem) are discounted too: a reasoning student needs traces across many kinds of
problems, an evaluation asks one kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.features.account import clip01, confidence, noisy_or, pct, sigmoid


CATCH_ALL_FAMILIES = frozenset({"other", "qa"})
"""Task families that are not a narrow focus when they dominate (see the narrow discount)."""


class ReasoningDetector(Detector):
    optional_columns: ClassVar[tuple[str, ...]] = ("system_prompt", "reasoning_tokens", "completion_tokens", "conversation_id")
    name: ClassVar[str] = "reasoning"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Share of requests demanding full chain of thought or forced trace formats."
    group: ClassVar[str] = "content"
    default_weight: ClassVar[float] = 1.0
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ('n', 'elicit_share', 'format_share', 'sys_elicit_share', 'completion_tokens', 'reasoning_tokens', 'multi_turn_share', 'top_family', 'top_family_share', 'ex_elicit', 'ex_any')

    def __init__(self, *, share_mid: float = 0.4, steepness: float = 10.0, w_system: float = 0.9,
                 w_tokens: float = 0.3, token_share_mid: float = 0.6, evidence_half: float = 8.0,
                 conversation_discount: float = 0.4, conversation_full: float = 0.5,
                 narrow_discount: float = 0.35, narrow_from: float = 0.7) -> None:
        self.narrow_discount = narrow_discount
        self.narrow_from = narrow_from
        self.conversation_discount = conversation_discount
        self.conversation_full = conversation_full
        self.share_mid = share_mid
        self.steepness = steepness
        self.w_system = w_system
        self.w_tokens = w_tokens
        self.token_share_mid = token_share_mid
        self.evidence_half = evidence_half

    def _ramp(self, share: float) -> float:
        """Logistic in the share, shifted so that a share of 0 scores exactly 0."""
        zero = sigmoid(-self.steepness * self.share_mid)
        return max(0.0, (sigmoid(self.steepness * (share - self.share_mid)) - zero) / (1.0 - zero))

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        n = int(r["n"])
        share = max(float(r["elicit_share"] or 0.0), min(1.0, 1.2 * float(r["format_share"] or 0.0)))
        sys_share = float(r["sys_elicit_share"] or 0.0)
        s_el = self._ramp(share)
        s_sys = self._ramp(sys_share)
        rt, ct = float(r["reasoning_tokens"] or 0.0), float(r["completion_tokens"] or 0.0)
        rts = rt / (rt + ct) if rt + ct > 0 else 0.0
        s_tok = sigmoid(8.0 * (rts - self.token_share_mid)) if rt > 0 else 0.0
        # Reasoning tokens alone are a property of the model and the task: they only support.
        score = confidence(n, self.evidence_half) * noisy_or([s_el, self.w_system * s_sys])
        score = score + (1.0 - score) * self.w_tokens * s_tok * min(1.0, 2 * max(share, sys_share))
        mt = float(r["multi_turn_share"] or 0.0)
        score *= 1.0 - self.conversation_discount * clip01(mt / self.conversation_full)
        top = float(r["top_family_share"] or 0.0)
        # 'other'/'qa' are the classifier's catch-alls (and where most non-English prompts
        # land): a dominant catch-all says we could not tell tasks apart, not that they are narrow.
        narrow = 0.0 if r["top_family"] in CATCH_ALL_FAMILIES else \
            clip01((top - self.narrow_from) / (1.0 - self.narrow_from + 1e-9))
        score *= 1.0 - self.narrow_discount * narrow
        detail = (f"{pct(share)} of {n:,} requests demand a reasoning trace or trace format"
                  + (f"; {pct(sys_share)} via the system prompt" if sys_share > 0 else "")
                  + (f"; reasoning tokens are {pct(rts)} of output" if rt > 0 else "")
                  + (f"; {pct(mt)} of requests in multi-turn conversations" if mt >= 0.05 else "")
                  + (f"; {pct(top)} are '{r['top_family']}' tasks (narrow: an evaluation more than a "
                     f"training set)" if narrow > 0 else "")) if explain else ""
        return {"account_id": r["account_id"], "score": score, "value": share, "detail": detail,
                     "examples": r["ex_elicit"] or r["ex_any"] or []}
