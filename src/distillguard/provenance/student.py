"""Toy students for the provenance experiment: fast on CPU, no downloads, no torch.

A :class:`NGramStudent` is a word trigram LM (stupid backoff to bigram and unigram) trained on
prompt-response pairs, conditioned on the prompt the way a fine-tuned model is: for a probe
it retrieves the nearest training prompts (TF-IDF cosine) and mixes their responses' n-gram
counts into the global ones with weight ``local``. ``local = 0`` is a pure LM that only
learnt the corpus-wide statistics; ``local > 0`` also memorises, as small models fine-tuned
on a harvest do. Both learn word choices from their context, which is what the lexical
watermark relies on.

This stands in for a distilled model in tests and benchmarks (docs/provenance.md says what
it does and does not show). It is not a model to release.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import accumulate

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

_TOK = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?|\d+|\n|[^\w\s]")
_NO_SPACE_BEFORE = set(".,!?;:)%'’")
_NO_SPACE_AFTER = set("($#")
BOS, EOS = "<s>", "</s>"


def tokenize(text: str) -> list[str]:
    return _TOK.findall(text)


def detokenize(toks: Iterable[str]) -> str:
    out: list[str] = []
    prev = "\n"
    for t in toks:
        if t == "\n":
            out.append("\n")
        elif prev == "\n" or t in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
            out.append(t)
        else:
            out.append(" " + t)
        prev = t
    return "".join(out).strip()


class _Dist:
    __slots__ = ("toks", "cum")

    def __init__(self, c: Counter[str]) -> None:
        self.toks = list(c)
        self.cum = list(accumulate(c.values()))

    def sample(self, rng: random.Random) -> str:
        return self.toks[bisect(self.cum, rng.random() * self.cum[-1])]


def _grams(docs: Iterable[list[str]]) -> tuple[dict, dict, Counter]:
    tri: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    bi: dict[str, Counter[str]] = defaultdict(Counter)
    uni: Counter[str] = Counter()
    for toks in docs:
        seq = [BOS, BOS, *toks, EOS]
        for a, b, c in zip(seq, seq[1:], seq[2:]):
            tri[(a, b)][c] += 1
            bi[b][c] += 1
            uni[c] += 1
    return tri, bi, uni


class NGramStudent:
    def __init__(self, pairs: Sequence[tuple[str, str]], *, local: float = 0.7, neighbours: int = 1,
                 max_tokens: int = 160) -> None:
        if not pairs:
            raise ValueError("a student needs training pairs")
        self.local, self.k, self.max_tokens = local, neighbours, max_tokens
        self.responses = [tokenize(r) for _, r in pairs]
        tri, bi, uni = _grams(self.responses)
        self._counts = (tri, bi, uni, sum(uni.values()), len(uni) + 1)
        self._tri = {k: _Dist(v) for k, v in tri.items()}
        self._bi = {k: _Dist(v) for k, v in bi.items()}
        self._uni = _Dist(uni)
        self._vec = TfidfVectorizer(sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w+\b")
        self._X = self._vec.fit_transform([p for p, _ in pairs]) if local > 0 else None

    def _neighbours(self, prompt: str) -> list[int]:
        q = self._vec.transform([prompt])
        sims = (self._X @ q.T).toarray().ravel()  # type: ignore[union-attr]
        if self.k == 1:
            return [int(np.argmax(sims))]
        return [int(i) for i in np.argsort(-sims)[: self.k]]

    @staticmethod
    def _p(counts: tuple, a: str, b: str, t: str, n_uni: int, vocab: int) -> float | None:
        tri, bi, uni = counts
        ct, cb = tri.get((a, b)), bi.get(b)
        if ct is None and cb is None:
            return None
        pt = ct[t] / sum(ct.values()) if ct else 0.0
        pb = cb[t] / sum(cb.values()) if cb else 0.0
        pu = (uni.get(t, 0) + 1) / (n_uni + vocab)
        if ct is None:
            return 0.9 * pb + 0.1 * pu
        return 0.6 * pt + 0.3 * pb + 0.1 * pu

    def logprob(self, prompt: str, text: str) -> float:
        """Log-probability of ``text`` as this student's answer to ``prompt`` (interpolated
        trigram/bigram/add-one unigram; the prompt's neighbours mixed in with weight ``local``)."""
        tri, bi, uni, n_uni, vocab = self._counts
        loc = None
        if self.local > 0:
            lt, lb, _ = _grams(self.responses[i] for i in self._neighbours(prompt))
            loc = (lt, lb, uni)
        total, (a, b) = 0.0, (BOS, BOS)
        for t in [*tokenize(text), EOS]:
            pg = self._p((tri, bi, uni), a, b, t, n_uni, vocab) or (uni.get(t, 0) + 1) / (n_uni + vocab)
            pl = self._p(loc, a, b, t, n_uni, vocab) if loc is not None else None
            total += math.log(self.local * pl + (1 - self.local) * pg if pl is not None else pg)
            a, b = b, t
        return total

    def generate(self, prompt: str, seed: int = 0) -> str:
        rng = random.Random(f"{seed}\x1f{prompt}")
        loc_tri = loc_bi = None
        if self.local > 0:
            lt, lb, _ = _grams(self.responses[i] for i in self._neighbours(prompt))
            loc_tri = {k: _Dist(v) for k, v in lt.items()}
            loc_bi = {k: _Dist(v) for k, v in lb.items()}
        a, b, out = BOS, BOS, []
        for _ in range(self.max_tokens):
            d = None
            if loc_tri is not None and rng.random() < self.local:
                d = loc_tri.get((a, b)) or loc_bi.get(b)  # type: ignore[union-attr]
            if d is None:
                d = self._tri.get((a, b)) or self._bi.get(b) or self._uni
            t = d.sample(rng)
            if t == EOS:
                break
            out.append(t)
            a, b = b, t
        return detokenize(out)
