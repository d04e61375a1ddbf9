"""The paired likelihood test: does the suspect *prefer* our keyed word choices?

Needs the suspect's token probabilities (an endpoint that scores text: legacy completions
with ``echo`` and ``logprobs``, or a local model). For each of our own unmarked answers to a
probe prompt (``--reference``), we mark it, take one site per (group, context) owned by the
key under test, and build its *twin*: the same text with that one site set to another variant.
The suspect scores both; ``D_c = log P(keyed text) − log P(twin)``.

Null model: which variant of the pair is the keyed one is a fair coin per context (an HMAC of
a distinct input), independent of a suspect that never saw our marks, and the other variant
is drawn independently of the key. So the signs of the non-zero ``D_c`` are independent fair
coins and the number of positive ones is Binomial(n, 1/2): an exact sign test. Like STAMP's
paired test, it can detect text seen once, because it asks about probabilities, not samples.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from scipy.stats import binom

from distillguard.protect.lexicon import GROUPS
from distillguard.protect.watermark import Watermark, _case_like, find_sites

_G = {g.gid: g for g in GROUPS}


def twin_pairs(wm: Watermark, refs: Sequence[tuple[str, str]], account_id: str | None,
               max_pairs: int = 200) -> list[tuple[str, str, str]]:
    """(prompt, keyed text, twin text) for contexts owned by the key under test (the provider's
    when ``account_id`` is None), one per (group, context)."""
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str, str]] = []
    for prompt, ref in refs:
        marked = wm.apply(ref, account_id).text
        rng = random.Random(zlib.crc32(ref.encode()))  # independent of the key
        for s in find_sites(marked):
            if (s.gid, s.context) in seen or not s.source:
                continue
            if wm.owner_is_account(s.gid, s.context) != (account_id is not None):
                continue
            seen.add((s.gid, s.context))
            g = _G[s.gid]
            others = [v for v in range(s.k) if v != s.variant]
            o = others[rng.randrange(len(others))]
            old = marked[s.start:s.end]
            new = old.replace(g.variants[s.variant].strip(), g.variants[o].strip()) if g.symbol \
                else _case_like(old, g.variants[o])
            out.append((prompt, marked, marked[:s.start] + new + marked[s.end:]))
            if len(out) >= max_pairs:
                return out
    return out


def paired_test(owner: str, pairs: list[tuple[str, str, str]],
                score: Callable[[Sequence[tuple[str, str]]], list[float]]) -> dict[str, Any]:
    items: list[tuple[str, str]] = []
    for prompt, keyed, twin in pairs:
        items += [(prompt, keyed), (prompt, twin)]
    lps = score(items) if items else []
    diffs = [lps[2 * i] - lps[2 * i + 1] for i in range(len(pairs))]
    nz = [d for d in diffs if abs(d) > 1e-9]
    pos = sum(d > 0 for d in nz)
    p = float(binom.sf(pos - 1, len(nz), 0.5)) if nz else 1.0
    return {"owner": owner, "pairs": len(pairs), "informative": len(nz), "prefers_keyed": pos,
            "share": round(pos / len(nz), 4) if nz else None, "p_value": p}
