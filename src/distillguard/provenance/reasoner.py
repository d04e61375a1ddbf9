"""A toy student that learns *procedures* from reasoning traces: the degrade experiment.

Why this toy: an n-gram LM cannot do arithmetic, so it scores ~0 on word problems whether it
saw full traces or not, and would show nothing. What a chain of thought gives a student is
the procedure. This student induces it directly: each equation in a training trace
(``48 / 2 = 24``, ``48 + 24 = 72``) is aligned to the prompt's numbers and to earlier
results, giving a small program (``r1 = n1 / 2; r2 = n1 + r1``). For a new problem it takes
the nearest training prompt (TF-IDF cosine) whose program applies to the new prompt's
numbers, and runs it. Traces whose steps were removed (degrade ``summary`` keeps the last
step, ``final`` none) leave steps with unexplained operands, so the program cannot be
induced and the student falls back to copying the neighbour's answer.

It is a stand-in for "a model learns the method from the trace", stated as such in
docs/provenance.md; it measures whether degraded traces still carry the procedure.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from distillguard.protect.degrade import final_answer

_NUM = r"\$?\d+(?:,\d{3})*(?:\.\d+)?"
_EQ = re.compile(rf"({_NUM}(?:\s*[-+*/x×]\s*{_NUM})+)\s*=\s*\$?({_NUM})")
_TERM = re.compile(rf"{_NUM}|[-+*/x×]")
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "x": operator.mul, "×": operator.mul,
        "/": operator.truediv}


def _num(s: str) -> float:
    return float(s.replace("$", "").replace(",", ""))


def numbers(text: str) -> list[float]:
    return [_num(m) for m in re.findall(_NUM, text)]


def parse_answer(text: str) -> float | None:
    ans = final_answer(text)[0]
    nums = numbers(ans)
    return nums[-1] if nums else None


Ref = tuple[str, float]  # ("n", index into prompt numbers) | ("r", index of earlier result) | ("c", constant)


def induce(prompt: str, trace: str) -> list[list[tuple[str, Ref]]] | None:
    """The program of a trace: per step, [(op, ref), ...]; None when an operand is unexplained
    by the prompt, an earlier step or a small constant (the trace does not carry the method)."""
    pn = numbers(prompt)
    results: list[float] = []
    prog: list[list[tuple[str, Ref]]] = []
    for m in _EQ.finditer(trace):
        terms = _TERM.findall(m.group(1))
        step: list[tuple[str, Ref]] = []
        op = "+"
        for t in terms:
            if t in _OPS:
                op = t
                continue
            v = _num(t)
            ref: Ref | None = None
            for i in range(len(results) - 1, -1, -1):
                if abs(results[i] - v) < 1e-9:
                    ref = ("r", i)
                    break
            if ref is None:
                for i, x in enumerate(pn):
                    if abs(x - v) < 1e-9:
                        ref = ("n", i)
                        break
            if ref is None:
                if v in (2, 3, 4, 5, 7, 10, 12, 24, 60, 100) or v <= 1:
                    ref = ("c", v)
                else:
                    return None
            step.append((op, ref))
        prog.append(step)
        results.append(_num(m.group(2)))
    return prog or None


def run(prog: list[list[tuple[str, Ref]]], pn: list[float]) -> float | None:
    results: list[float] = []
    for step in prog:
        acc = 0.0
        for i, (op, (kind, x)) in enumerate(step):
            if kind == "n":
                if int(x) >= len(pn):
                    return None
                v = pn[int(x)]
            elif kind == "r":
                v = results[int(x)]
            else:
                v = x
            if i == 0:
                acc = v
            else:
                try:
                    acc = _OPS[op](acc, v)
                except ZeroDivisionError:
                    return None
        results.append(acc)
    return results[-1] if results else None


class ProcedureStudent:
    def __init__(self, pairs: Sequence[tuple[str, str]], neighbours: int = 5) -> None:
        self.prompts = [p for p, _ in pairs]
        self.answers = [parse_answer(r) for _, r in pairs]
        self.progs = [induce(p, r) for p, r in pairs]
        self.k = neighbours
        self._vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d]+\b")
        self._X = self._vec.fit_transform(self.prompts)

    @property
    def procedures(self) -> float:
        """Share of training traces a procedure could be induced from."""
        return sum(p is not None for p in self.progs) / len(self.progs)

    def answer(self, prompt: str) -> float | None:
        sims = (self._X @ self._vec.transform([prompt]).T).toarray().ravel()
        order = np.argsort(-sims)[: self.k]
        pn = numbers(prompt)
        for i in order:
            prog = self.progs[int(i)]
            if prog is not None and len(pn) > max((int(x) for s in prog for _, (k, x) in s if k == "n"), default=-1):
                v = run(prog, pn)
                if v is not None:
                    return v
        return self.answers[int(order[0])]

    def accuracy(self, tests: Sequence[tuple[str, str]]) -> float:
        ok = 0
        for p, r in tests:
            gold, got = parse_answer(r), self.answer(p)
            ok += int(gold is not None and got is not None and abs(gold - got) < 1e-6)
        return ok / len(tests)
