"""Degrade: make harvested outputs worth less to a student while still answering the user.

Three modes, chosen per action by the protect policy (docs/provenance.md):

* ``summary`` - the reasoning trace is replaced by a summary: its last ``sentences`` steps
  (the step that produces the result) plus the final answer line. The intermediate steps,
  which are what a student learns to reason from, are dropped.
* ``short`` - the answer is cut to ``max_words`` at a sentence boundary, the final answer
  line kept; a reasoning trace is summarised.
* ``final`` - the final answer only ("#### 72", "So the answer is (B)."); no trace.

The final answer is found by the formats real traces use (GSM8K ``#### n``, ``A: n``,
``the answer is …``, ``Answer: …``); when none is found the last sentence stands in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mode = Literal["none", "summary", "short", "final"]
MODES: tuple[str, ...] = ("none", "summary", "short", "final")

_FINAL_LINE = re.compile(r"^\s*(?:####\s*\S.*|A:\s*\S.*|(?:final\s+)?answer\s*[:=]\s*\S.*)$", re.I | re.M)
_ANSWER_IS = re.compile(r"[^.\n]*\bthe (?:final )?answer is\b[^\n]*", re.I)
_SENT = re.compile(r"[^.!?\n]+(?:[.!?]+|$)|\n", re.M)


def sentences(text: str) -> list[str]:
    """Sentences and lines of a text, stripped, in order (a line break ends a sentence)."""
    return [s.strip() for s in _SENT.findall(text) if s.strip()]


def final_answer(text: str) -> tuple[str, int]:
    """(final answer span, its start offset) of a trace; the last sentence when no format matches."""
    ms = list(_FINAL_LINE.finditer(text))
    if ms:
        return ms[-1].group().strip(), ms[-1].start()
    ms = list(_ANSWER_IS.finditer(text))
    if ms:
        return ms[-1].group().strip(), ms[-1].start()
    ss = sentences(text)
    if not ss:
        return text.strip(), 0
    last = ss[-1]
    return last, max(0, text.rfind(last))


def summarise(trace: str, keep: int = 1) -> str:
    """The last ``keep`` steps before the final answer, then the final answer."""
    ans, at = final_answer(trace)
    steps = sentences(trace[:at])
    if not steps:
        return ans
    body = " ".join(steps[-keep:]) if keep > 0 else ""
    return f"{body}\n{ans}" if body and body != ans else ans


def shorten(text: str, max_words: int) -> str:
    """At most ``max_words`` words, cut at a sentence boundary, final answer line kept."""
    if len(text.split()) <= max_words:
        return text
    ans, at = final_answer(text)
    has_final = bool(_FINAL_LINE.search(text) or _ANSWER_IS.search(text))
    budget = max_words - (len(ans.split()) if has_final else 0)
    out, n = [], 0
    for s in sentences(text[:at] if has_final else text):
        w = len(s.split())
        if n + w > budget and out:
            break
        out.append(s)
        n += w
        if n >= budget:
            break
    body = " ".join(out)
    if len(body.split()) > max(budget, 1):
        body = " ".join(body.split()[: max(budget, 1)]) + " …"
    return f"{body}\n{ans}" if has_final else body


@dataclass
class Degraded:
    response: str
    reasoning: str | None
    mode: str


def looks_like_trace(text: str) -> bool:
    """A step-by-step answer: several sentences/lines ending in a recognisable final answer."""
    return len(sentences(text)) >= 3 and bool(_FINAL_LINE.search(text) or _ANSWER_IS.search(text))


def degrade(response: str, reasoning: str | None, mode: str, *, keep: int = 1, max_words: int = 120) -> Degraded:
    """Apply one degrade mode to a response and its (optional) separate reasoning trace."""
    if mode not in MODES:
        raise ValueError(f"unknown degrade mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "none":
        return Degraded(response, reasoning, mode)
    if mode == "final":
        return Degraded(final_answer(response)[0], None if reasoning is None else "", mode)
    new_reasoning = None if reasoning is None else summarise(reasoning, keep)
    if mode == "summary":
        new_response = summarise(response, keep) if reasoning is None and looks_like_trace(response) else response
        return Degraded(new_response, new_reasoning, mode)
    new_response = shorten(summarise(response, keep) if reasoning is None and looks_like_trace(response) else response,
                           max_words)
    return Degraded(new_response, new_reasoning, mode)
