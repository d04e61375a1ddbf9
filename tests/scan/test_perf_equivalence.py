"""Speed work must not change results: the fast paths equal the plain computations."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.features import _memo, embed, minhash


def _reference_densify(sig: np.ndarray) -> np.ndarray:
    """Row-at-a-time densification exactly as specified (the pre-optimisation algorithm)."""
    n, k = sig.shape
    out = sig.copy()
    probes = minhash._probe_table(k)
    for i in range(n):
        empty = sig[i] == minhash._EMPTY
        if empty.all():
            out[i] = 0
            continue
        for j in np.flatnonzero(empty):
            for t, probe in enumerate(probes):
                cand = sig[i, probe[j]]
                if cand != minhash._EMPTY:
                    with np.errstate(over="ignore"):
                        out[i, j] = (cand + np.uint64(t + 1) * np.uint64(0x632BE59BD9B4E019)) & minhash._MASK58
                    break
            else:
                out[i, j] = sig[i, np.argmax(~empty)]
    return out


def test_densify_matches_reference() -> None:
    rng = np.random.default_rng(0)
    for k, fill in ((64, 1), (64, 3), (64, 30), (32, 2), (128, 5)):
        sig = np.full((300, k), minhash._EMPTY, dtype=np.uint64)
        for i in range(300):
            cols = rng.choice(k, size=rng.integers(0, fill + 1), replace=False)
            sig[i, cols] = rng.integers(0, 1 << 58, len(cols), dtype=np.uint64)
        assert np.array_equal(minhash._densify(sig), _reference_densify(sig))


PROMPTS = ["Solve step by step: 12 + 7", "Solve step by step: 3 + 99", None, "", "hello there, how are you",
           "Solve step by step: 12 + 7", "翻译成英文：你好世界", "x " * 3000] * 3


def _same(a: minhash.Sketch, b: minhash.Sketch) -> bool:
    pairs = [(a.bands, b.bands), (a.exact, b.exact), (a.n_tokens, b.n_tokens), (a.fingerprint, b.fingerprint)]
    return all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in pairs)


def test_sketch_dedupe_and_memo_are_exact() -> None:
    rows = [minhash._sketch(pa.array([p or ""], pa.large_string()), num_perm=minhash.NUM_PERM,
                            bands=minhash.BANDS) for p in PROMPTS]
    plain = minhash.Sketch(np.concatenate([r.bands for r in rows]), np.concatenate([r.exact for r in rows]),
                           np.concatenate([r.n_tokens for r in rows]),
                           np.concatenate([r.fingerprint for r in rows]))  # type: ignore[misc]
    assert _same(minhash.sketch(PROMPTS), plain)
    with _memo.active(sketch=4) as memos:  # smaller than the distinct texts: a full memo still answers right
        assert _same(minhash.sketch(PROMPTS[:5]), _slice(plain, 5))
        assert _same(minhash.sketch(pa.chunked_array([pa.array(PROMPTS)])), plain)
        assert memos["sketch"].hits > 0 and len(memos["sketch"].rows) <= 4
    assert _memo.memo("sketch") is None


def _slice(s: minhash.Sketch, n: int) -> minhash.Sketch:
    return minhash.Sketch(s.bands[:n], s.exact[:n], s.n_tokens[:n], s.fingerprint[:n] if s.fingerprint is not None else None)


def test_embed_dedupe_and_memo_are_exact() -> None:
    texts = [p or "" for p in PROMPTS]
    plain = np.vstack([embed._embed_masked([embed.mask_text(t)], embed.DEFAULT_DIM, 0) for t in texts])
    assert np.array_equal(embed.embed_texts(texts), plain)
    with _memo.active(embed=100) as memos:
        embed.embed_texts(texts[:4])
        assert np.array_equal(embed.embed_texts(texts), plain)
        assert memos["embed"].hits > 0
