"""Keyed MinHash sketches of prompt templates: fuzzy matching without reading.

Distillation runs on templates ("Solve step by step and show your reasoning: {task}"),
paraphrased across accounts and providers. Sharing the template text would leak prompts;
sharing an exact hash would miss every paraphrase. A MinHash sketch estimates the Jaccard
similarity of two word sets, so paraphrases still match; keying it makes it unreadable:

* the *skeleton* of a group of prompts is the set of content words and word pairs found in
  at least ``min_share`` of them: the fixed wrapper, not the varying task (which is the
  only part that could be personal);
* every shingle is hashed with HMAC-SHA256 under the consortium key, and the MinHash
  permutations are derived from the key too, so without the key a sketch is 64 random
  32-bit numbers: nobody can test a guessed template against it or invert it.

Members holding the key could test guesses, as with any keyed hash; that is why only
skeletons (never whole prompts) are sketched and the policy still applies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from distillguard.intel.hashing import Key, Keyring

NUM_PERM = 64
_P = np.uint64((1 << 61) - 1)
_WORD = re.compile(r"[a-z]+|\d+")
STOPWORDS = frozenset(
    "a an the and or but if then of to in on at by for with from as is are was were be been being "
    "it its this that these those i you he she we they me my your our their his her them us do does "
    "did so not no yes can could would should will shall may might must have has had about into over "
    "than too very just also only what which who whom whose when where why how all any each some such "
    "there here up down out off again more most other own same s t".split()
)


def shingles(text: str) -> set[str]:
    """Content words (digits masked) and adjacent content-word pairs of one prompt."""
    words = ["0" if w.isdigit() else w for w in _WORD.findall(text.lower())]
    content = [w for w in words if w not in STOPWORDS and len(w) > 1]
    out = set(content)
    out.update(f"{a} {b}" for a, b in zip(content, content[1:]))
    return out


def skeleton(prompts: Iterable[str], *, min_share: float = 0.5, min_prompts: int = 3,
             min_size: int = 4) -> set[str] | None:
    """Shingles shared by at least ``min_share`` of the prompts: the template, not the task.

    None when there are too few prompts or the shared part is too small to mean anything
    (an account with varied, organic prompts has no skeleton).
    """
    sets = [shingles(p) for p in prompts if p]
    if len(sets) < min_prompts:
        return None
    counts = Counter(s for st in sets for s in st)
    need = max(2, int(np.ceil(min_share * len(sets))))
    sk = {s for s, c in counts.items() if c >= need}
    return sk if len(sk) >= min_size else None


@dataclass(frozen=True)
class Sketch:
    """A keyed MinHash sketch: key id plus NUM_PERM 32-bit minima."""

    key_id: str
    values: tuple[int, ...]

    def to_str(self) -> str:
        return f"{self.key_id}:mh{len(self.values)}:" + "".join(f"{v:08x}" for v in self.values)

    @classmethod
    def from_str(cls, text: str) -> "Sketch":
        kid, mh, hexs = text.split(":", 2)
        n = int(mh[2:])
        if not mh.startswith("mh") or len(hexs) != 8 * n:
            raise ValueError("malformed sketch")
        return cls(kid, tuple(int(hexs[i * 8:(i + 1) * 8], 16) for i in range(n)))

    def similarity(self, other: "Sketch") -> float:
        """Estimated Jaccard similarity; 0 when made under different keys (incomparable)."""
        if self.key_id != other.key_id or len(self.values) != len(other.values):
            return 0.0
        a, b = np.array(self.values), np.array(other.values)
        return float(np.mean(a == b))


def _permutations(key: Key, n: int) -> tuple[np.ndarray, np.ndarray]:
    stream = b"".join(hmac.new(key.secret, f"distillguard/minhash-perm/{i}".encode(), hashlib.sha256).digest()
                      for i in range((n * 8 + 31) // 32))
    raw = np.frombuffer(stream[: n * 8], dtype="<u4").astype(np.uint64)
    a = raw[0::2] | np.uint64(1)
    b = raw[1::2]
    return a, b


def sketch(key: Key, items: set[str], num_perm: int = NUM_PERM) -> Sketch:
    """Keyed MinHash of a shingle set under ``key``."""
    if not items:
        raise ValueError("cannot sketch an empty set")
    base = np.array(
        [int.from_bytes(hmac.new(key.secret, f"distillguard/template\x00{s}".encode(), hashlib.sha256).digest()[:4], "little")
         for s in sorted(items)],
        dtype=np.uint64,
    )
    a, b = _permutations(key, num_perm)
    # (a*x + b) mod p with a, x < 2^32: the product fits in 64 bits
    h = ((a[:, None] * base[None, :]) % _P + b[:, None]) % _P
    mins = (h.min(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint64)
    return Sketch(key.id, tuple(int(v) for v in mins))


def template_sketches(keyring: Keyring, prompts: Iterable[str], **kw: float) -> list[Sketch]:
    """Sketches of a prompt group's skeleton under every valid key (for matching)."""
    sk = skeleton(prompts, **kw)  # type: ignore[arg-type]
    if sk is None:
        return []
    return [sketch(k, sk) for k in keyring.valid_keys()]
