"""The known attack on lexical watermarks: paraphrase harvested outputs before training.

* :func:`normalise` - an attacker who knows (or has reconstructed) our variant groups
  rewrites every site to a variant of its own choosing. This is the strongest lexical attack:
  the keyed choices are gone.
* :func:`synonym_paraphrase` - a generic paraphraser that does not know our lists: each
  variant group is in its synonym table with probability ``coverage``, and a covered site is
  rewritten at random with probability ``rate``; other words (names, numbers) are kept.

Neither touches facts: canary name pairs survive both, which is why canaries and marks are
used together (docs/provenance.md).
"""

from __future__ import annotations

import random
import zlib

from distillguard.protect.lexicon import GROUPS
from distillguard.protect.watermark import _case_like, find_sites

_G = {g.gid: g for g in GROUPS}


def _rewrite(text: str, choose) -> str:  # type: ignore[no-untyped-def]
    parts, pos = [], 0
    for s in find_sites(text):
        j = choose(s)
        if j is None or j == s.variant:
            continue
        g = _G[s.gid]
        old = text[s.start:s.end]
        new = old.replace(g.variants[s.variant].strip(), g.variants[j].strip()) if g.symbol else _case_like(old, g.variants[j])
        parts += [text[pos:s.start], new]
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def normalise(text: str, seed: int = 0) -> str:
    """Every site rewritten to a variant chosen independently of our key."""
    rng = random.Random(seed ^ zlib.crc32(text.encode()))
    return _rewrite(text, lambda s: rng.randrange(s.k))


def synonym_paraphrase(text: str, coverage: float = 0.5, rate: float = 0.5, seed: int = 0) -> str:
    """A paraphraser with its own synonym table covering ``coverage`` of our groups."""
    known = {g.gid for g in GROUPS if (zlib.crc32(f"{seed}:{g.gid}".encode()) % 1000) / 1000 < coverage}
    rng = random.Random(seed ^ zlib.crc32(text.encode()))
    return _rewrite(text, lambda s: rng.randrange(s.k) if s.gid in known and rng.random() < rate else None)
