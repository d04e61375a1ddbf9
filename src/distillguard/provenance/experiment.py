"""Building blocks of the provenance experiment (demo, tests, bench/bench_provenance.py).

A *harvest* is teacher outputs obtained through our guard by one account, so they carry that
account's marks (and canaries, for trigger prompts, when the account was suspected). A student
is trained on a *mix*: a share ``marked`` of its training pairs from the harvest, the rest
from unmarked text (another source, or our outputs obtained without a mark).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from distillguard.protect.protector import Protector
from distillguard.provenance.student import NGramStudent


def harvest(protector: Protector, pairs: Sequence[tuple[str, str]], account_id: str, action: str = "allow",
            prefix: str = "h") -> list[tuple[str, str]]:
    """``pairs`` as the account received them through ``POST /v1/protect`` (same code path)."""
    return [(p, protector.protect(account_id, action, f"{prefix}-{account_id}-{i}", p, r).response)
            for i, (p, r) in enumerate(pairs)]


def mix(marked: Sequence[tuple[str, str]], clean: Sequence[tuple[str, str]], share: float, n: int,
        seed: int = 0) -> list[tuple[str, str]]:
    """``n`` training pairs, ``round(share * n)`` from ``marked`` (first ones), the rest from ``clean``."""
    k = round(share * n)
    if k > len(marked) or n - k > len(clean):
        raise ValueError(f"not enough pairs for a {share:.0%} mix of {n}")
    out = list(marked[:k]) + list(clean[: n - k])
    random.Random(seed).shuffle(out)
    return out


def student(pairs: Sequence[tuple[str, str]], local: float = 0.7) -> NGramStudent:
    return NGramStudent(pairs, local=local)
