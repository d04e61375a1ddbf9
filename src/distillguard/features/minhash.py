"""Vectorised MinHash / LSH sketches of masked prompts, fast enough for millions of requests.

Why: template clustering (signal 3), known-corpus matching (signal 6) and template edges
in the campaign graph all need "are these two prompts near-duplicates once their slots
are masked?" for millions of prompts. A per-prompt Python MinHash (datasketch's
``MinHash.update_batch``) costs tens of microseconds per prompt in interpreter overhead,
so this module does the whole pipeline on Arrow buffers with numpy:

1. mask + lower-case every prompt with the *same* RE2 rules as
   :func:`distillguard.features.text.mask` (run vectorised by ``pyarrow.compute``);
2. split into word tokens on the raw byte buffer (CJK characters become one token each)
   and hash each token with a polynomial byte hash + splitmix64 finaliser;
3. shingle into word bigrams (with a start-of-prompt sentinel, so one-word prompts still
   get a shingle), keeping only the first ``head`` and last ``tail`` tokens: template
   frames live at the start and end of a prompt and this bounds long prompts' cost;
4. one-permutation MinHash (Li, Owen & Zhang 2012) with densification
   (Shrivastava & Li 2014): each shingle hash falls into one of ``num_perm`` bins and the
   bin keeps its minimum, O(shingles) instead of O(shingles × permutations);
5. LSH: ``bands`` band keys of ``num_perm / bands`` rows each; two prompts with Jaccard
   similarity s share at least one band with probability 1 - (1 - s^rows)^bands.

Everything is a pure function of the text bytes with fixed constants (no Python
``hash()`` salt), so signatures agree across processes and machines: an index built
today matches a scan run next month.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.features import _memo
from distillguard.features.text import MASK_RULES

NUM_PERM = 64
BANDS = 16
HEAD_TOKENS = 48
TAIL_TOKENS = 16
HEAD_CHARS = 900
TAIL_CHARS = 300
SKETCH_VERSION = 1
"""Bump when any constant or rule below changes: stored indexes record it."""

_U64 = np.uint64
_MASK58 = _U64((1 << 58) - 1)
_EMPTY = _U64(np.iinfo(np.uint64).max)
_SENTINEL = _U64(0x9E3779B97F4A7C15)
with np.errstate(over="ignore"):
    _POW = np.cumprod(np.full(256, 0x100000001B3, dtype=np.uint64), dtype=np.uint64)
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True
# Rules applied after text.MASK_RULES: split punctuation off words and CJK characters apart.
_TOKEN_RULES: tuple[tuple[str, str], ...] = (
    (r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}])", " \\1 "),
    (r"([^\p{L}\p{N}\s<>_]+)", " \\1 "),
)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-mixing bijection on uint64 (wraps silently)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> _U64(30)
        x *= _U64(0xBF58476D1CE4E5B9)
        x ^= x >> _U64(27)
        x *= _U64(0x94D049BB133111EB)
        x ^= x >> _U64(31)
    return x


def normalize(texts: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    """Mask slots (text.MASK_RULES, vectorised RE2) and lower-case; nulls become ''.

    Equal to ``text.mask(p)`` up to whitespace around punctuation, which tokenisation
    ignores anyway.
    """
    arr = pa.array(texts, type=pa.large_string()) if isinstance(texts, list) else texts
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = _head_tail(pc.fill_null(arr.cast(pa.large_string()), ""))
    for pattern, rep in MASK_RULES:
        if rep == " ":  # whitespace runs: the tokeniser ignores them anyway
            continue
        arr = pc.replace_substring_regex(arr, pattern=pattern, replacement=rep)
    arr = pc.utf8_lower(arr)
    for pattern, rep in _TOKEN_RULES:
        arr = pc.replace_substring_regex(arr, pattern=pattern, replacement=rep)
    return arr


def _head_tail(arr: pa.Array) -> pa.Array:
    """Keep the first HEAD_CHARS and last TAIL_CHARS characters of long prompts.

    Signatures only use the first ``HEAD_TOKENS`` and last ``TAIL_TOKENS`` tokens, so the
    middle of a long prompt (a pasted article) is never needed; cutting it first keeps the
    regex and tokeniser cost per prompt bounded. The exact hash is then a hash of head,
    tail and length class, which is exact enough for duplicate detection.
    """
    length = pc.utf8_length(arr)
    long = pc.greater(length, HEAD_CHARS + TAIL_CHARS)
    if not pc.any(long).as_py():
        return arr
    head = pc.utf8_slice_codeunits(arr, 0, HEAD_CHARS)
    tail = pc.utf8_slice_codeunits(arr, -TAIL_CHARS)
    joined = pc.binary_join_element_wise(head, pa.scalar(" … ", pa.large_string()), tail, pa.scalar("", pa.large_string()))
    return pc.if_else(long, joined, arr)


@dataclass(frozen=True)
class Tokens:
    """Word tokens of a batch of prompts, flattened: hash and owning prompt per token."""

    hashes: np.ndarray  # uint64, one per token
    prompt: np.ndarray  # int64, index of the prompt the token belongs to
    position: np.ndarray  # int64, index of the token within its prompt
    counts: np.ndarray  # int64, tokens per prompt


def tokenize(normalized: pa.Array) -> Tokens:
    """Hash whitespace-separated tokens of already-normalised text, fully vectorised.

    A token's hash reads its first 16 bytes as two little-endian words (bytes past the
    token's end masked off) and mixes in its length, so the work is per token, not per
    byte. Tokens longer than 16 bytes that share their first 16 bytes and length collide,
    which is harmless for near-duplicate detection.
    """
    n = len(normalized)
    arr = normalized.cast(pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    if bufs[2] is None or n == 0 or offsets[-1] == offsets[0]:
        empty = np.zeros(0, dtype=np.int64)
        return Tokens(np.zeros(0, dtype=np.uint64), empty, empty, np.zeros(n, dtype=np.int64))
    raw = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    size = len(raw)
    data = np.zeros(size + 16, dtype=np.uint8)
    data[:size] = raw
    nonspace = ~_SPACE[raw]
    is_prompt_start = np.zeros(size + 1, dtype=bool)
    is_prompt_start[offsets[:-1]] = True
    starts = nonspace.copy()
    starts[1:] &= ~nonspace[:-1] | is_prompt_start[1:size]
    cont = np.zeros(size, dtype=bool)
    cont[:-1] = nonspace[1:] & ~is_prompt_start[1:size]
    start_idx = np.flatnonzero(starts)
    end_idx = np.flatnonzero(nonspace & ~cont)
    length = (end_idx - start_idx + 1).astype(np.uint64)
    words = np.ndarray(shape=(size + 8,), dtype="<u8", buffer=data, offset=0, strides=(1,))
    lo = words[start_idx]
    hi = words[start_idx + 8]
    with np.errstate(over="ignore"):
        lo_bits = np.minimum(length, _U64(8)) * _U64(8)
        hi_bits = np.minimum(np.maximum(length, _U64(8)) - _U64(8), _U64(8)) * _U64(8)
        lo &= np.where(lo_bits >= 64, _EMPTY, (_U64(1) << (lo_bits & _U64(63))) - _U64(1))
        hi &= np.where(hi_bits >= 64, _EMPTY, (_U64(1) << (hi_bits & _U64(63))) - _U64(1))
        h = mix64(lo ^ mix64(hi + length * _U64(0x9E3779B97F4A7C15)))
    first_tok = np.searchsorted(start_idx, offsets)
    counts = np.diff(first_tok).astype(np.int64)
    prompt = np.repeat(np.arange(n, dtype=np.int64), counts)
    position = np.arange(len(prompt), dtype=np.int64) - np.repeat(first_tok[:-1], counts)
    return Tokens(h, prompt, position, counts)


@dataclass(frozen=True)
class Sketch:
    """Per-prompt sketches: LSH band keys, an exact hash of the normalised text, token count."""

    bands: np.ndarray  # (n, BANDS) uint64; rows of empty prompts are all zero
    exact: np.ndarray  # (n,) uint64; 0 for empty prompts
    n_tokens: np.ndarray  # (n,) int64
    fingerprint: np.ndarray | None = None  # (n, NUM_PERM) uint16: low bits of real bins (odd); 0 = borrowed bin


def similarity(fp_a: np.ndarray, fp_b: np.ndarray) -> np.ndarray:
    """Jaccard estimate of row pairs from fingerprints: one-permutation estimator.

    Equal real bins over bins real in either row (Li, Owen & Zhang 2012): borrowed
    (densified) bins are ignored, so two short prompts are not judged alike on copies.
    """
    real_a, real_b = fp_a != 0, fp_b != 0
    eq = (fp_a == fp_b) & real_a & real_b
    union = (real_a | real_b).sum(axis=-1)
    return np.where(union > 0, eq.sum(axis=-1) / np.maximum(union, 1), 0.0)


def signatures(tok: Tokens, n: int, *, num_perm: int = NUM_PERM, head: int = HEAD_TOKENS,
               tail: int = TAIL_TOKENS) -> np.ndarray:
    """One-permutation MinHash signatures (n, num_perm) uint64 of word-bigram shingles.

    Bigrams, not unigrams: prompts sharing only common words ("what is the ...") must not
    look alike. Short prompts fill few bins, so clustering verifies band matches with
    the signature fingerprints (templates.cluster_prompts).
    """
    if num_perm & (num_perm - 1) or not 1 <= num_perm <= 256:
        raise ValueError("num_perm must be a power of two ≤ 256")
    keep = (tok.position < head) | (tok.position >= tok.counts[tok.prompt] - tail)
    h = tok.hashes
    prev = np.empty_like(h)
    if len(h):
        prev[0] = _SENTINEL
        prev[1:] = h[:-1]
        prev[tok.position == 0] = _SENTINEL
    with np.errstate(over="ignore"):
        bi = mix64(prev * _U64(0x9FB21C651E98DF25) + h)[keep]
    return _oph(bi, tok.prompt[keep], n, num_perm)


def _oph(hashes: np.ndarray, owner: np.ndarray, n: int, num_perm: int) -> np.ndarray:
    """One-permutation MinHash of the sets {hashes[owner == i]}: top bits pick the bin.

    Densified bins carry bit 58 set, so :func:`filled_bins` can tell them from real ones.
    """
    shift = _U64(64 - int(np.log2(num_perm)))
    bins = (hashes >> shift).astype(np.int64)
    sig = np.full(n * num_perm, _EMPTY, dtype=np.uint64)
    np.minimum.at(sig, owner * num_perm + bins, hashes & _MASK58)
    sig = sig.reshape(n, num_perm)
    empty = sig == _EMPTY
    dense = _densify(sig)
    dense[empty] |= _U64(1 << 58)
    return dense


def filled_bins(sig: np.ndarray) -> np.ndarray:
    """(n, num_perm) bool: bins that hold a real shingle minimum (not borrowed)."""
    return (sig & _U64(1 << 58)) == 0


def set_band_keys(values: np.ndarray, owner: np.ndarray, n: int, *, num_perm: int = 32, bands: int = 8) -> np.ndarray:
    """LSH band keys (n, bands) of integer sets (e.g. an account's active hour ids)."""
    h = mix64(np.asarray(values, dtype=np.uint64) ^ _U64(0x5851F42D4C957F2D))
    return band_keys(_oph(h, np.asarray(owner, dtype=np.int64), n, num_perm), bands)


@lru_cache(maxsize=8)
def _probe_table(num_perm: int, attempts: int = 48) -> np.ndarray:
    """(attempts, num_perm) bins an empty bin borrows from, in order: a fixed pseudo-random
    sequence per bin (Shrivastava 2017, "optimal densification")."""
    j = np.arange(num_perm, dtype=np.uint64)[None, :]
    t = np.arange(1, attempts + 1, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        return (mix64(j * _U64(0x9E3779B97F4A7C15) + t * _U64(0xC2B2AE3D27D4EB4F)) % _U64(num_perm)).astype(np.int64)


def _densify(sig: np.ndarray) -> np.ndarray:
    """Fill empty bins by borrowing from a pseudo-random sequence of other bins.

    Borrowing from the *next* bin (rotation) makes runs of empty bins copy one value, so
    two short prompts that share a single shingle would share whole LSH bands; a random
    probe sequence per bin keeps the collision probability equal to Jaccard similarity.

    Each empty bin takes the first probe ``t`` that lands on a filled bin (value mixed
    with ``t``); bins whose probes all miss take the row's first filled bin. Short prompts
    leave most bins empty, so this is the sketch's hot spot: the search runs on the flat
    list of still-unresolved empty bins (shrinking every attempt) and, for up to 64 bins,
    tests a per-row bitmask of filled bins instead of gathering signature values.
    """
    n, k = sig.shape
    empty = sig == _EMPTY
    if not empty.any():
        return sig
    out = sig.copy()
    all_empty = empty.all(axis=1)
    rows, cols = np.nonzero(empty & ~all_empty[:, None])
    probes = _probe_table(k)
    found = np.full(len(rows), -1, dtype=np.int64)
    todo = np.arange(len(rows))
    if k <= 64:
        filled = (~empty).astype(np.uint64) << np.arange(k, dtype=np.uint64)
        mask = filled.sum(axis=1, dtype=np.uint64)[rows]  # distinct powers of two: sum == OR
        cur_cols = cols.astype(np.uint8)
        shifts = probes.astype(np.uint64)
        for t in range(len(probes)):
            if len(todo) == 0:
                break
            hit = ((mask >> shifts[t][cur_cols]) & _U64(1)).astype(bool)
            found[todo[hit]] = t
            miss = ~hit
            todo, cur_cols, mask = todo[miss], cur_cols[miss], mask[miss]
    else:
        flat = sig.reshape(-1)
        for t, probe in enumerate(probes):
            if len(todo) == 0:
                break
            hit = flat[rows[todo] * k + probe[cols[todo]]] != _EMPTY
            found[todo[hit]] = t
            todo = todo[~hit]
    ok = found >= 0
    r, c, t_ok = rows[ok], cols[ok], found[ok]
    with np.errstate(over="ignore"):
        out[r, c] = (sig[r, probes[t_ok, c]] + (t_ok + 1).astype(np.uint64) * _U64(0x632BE59BD9B4E019)) & _MASK58
    if len(todo):  # very sparse rows whose probes all missed: take their first filled bin
        first = np.argmax(~empty, axis=1)
        r, c = rows[todo], cols[todo]
        out[r, c] = sig[r, first[r]]
    out[all_empty] = 0
    return out


def band_keys(sig: np.ndarray, bands: int = BANDS) -> np.ndarray:
    """Hash each band of ``rows = num_perm / bands`` signature values into one uint64 key."""
    n, k = sig.shape
    if k % bands:
        raise ValueError("num_perm must be a multiple of bands")
    rows = k // bands
    s = sig.reshape(n, bands, rows)
    h = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = mix64(h * _U64(0xD6E8FEB86659FD93) + s[:, :, r])
        h ^= mix64(np.arange(1, bands + 1, dtype=np.uint64))[None, :]
    return h


def exact_hashes(tok: Tokens, n: int) -> np.ndarray:
    """Order-sensitive hash of every token of each prompt (0 for empty prompts)."""
    out = np.zeros(n, dtype=np.uint64)
    has = tok.counts > 0
    if has.any():
        with np.errstate(over="ignore"):
            contrib = mix64(tok.hashes + tok.position.astype(np.uint64) * _U64(0xA0761D6478BD642F))
        starts = (np.cumsum(tok.counts) - tok.counts)[has]
        out[has] = np.add.reduceat(contrib, starts)
    out = np.where(tok.counts > 0, mix64(out) | _U64(1), _U64(0))
    return out


def sketch(texts: pa.Array | pa.ChunkedArray | list[str | None], *, num_perm: int = NUM_PERM,
           bands: int = BANDS) -> Sketch:
    """Normalise, tokenise and sketch a batch of prompts (call per batch of ~50k).

    A sketch row is a pure function of its text, so repeated texts (retries, shared
    benchmark items, one prompt sent from many accounts) are sketched once and copied.
    """
    arr = pa.array(texts, type=pa.large_string()) if isinstance(texts, list) else texts
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr.cast(pa.large_string()), "")
    memo = _memo.memo("sketch") if (num_perm, bands) == (NUM_PERM, BANDS) else None
    if len(arr) > 1 or (memo is not None and len(arr)):
        enc = pc.dictionary_encode(arr)
        if memo is not None:
            uniq = _memo_sketch(enc.dictionary, memo)
        elif len(enc.dictionary) < 0.9 * len(arr):
            uniq = _sketch(enc.dictionary, num_perm=num_perm, bands=bands)
        else:
            return _sketch(arr, num_perm=num_perm, bands=bands)
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        fp = uniq.fingerprint[idx] if uniq.fingerprint is not None else None
        return Sketch(uniq.bands[idx], uniq.exact[idx], uniq.n_tokens[idx], fp)
    return _sketch(arr, num_perm=num_perm, bands=bands)


_ROW = np.dtype([("bands", "<u8", (BANDS,)), ("exact", "<u8"), ("n_tokens", "<i8"), ("fp", "<u2", (NUM_PERM,))])


def _memo_sketch(texts: pa.Array, memo: _memo.TextMemo) -> Sketch:
    """Sketch distinct ``texts``, reusing rows the scan's memo already holds."""
    keys = texts.to_pylist()
    rows = [memo.get(k) for k in keys]
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        sk = _sketch(texts.take(pa.array(missing, pa.int64())), num_perm=NUM_PERM, bands=BANDS)
        packed = np.zeros(len(missing), dtype=_ROW)
        packed["bands"], packed["exact"], packed["n_tokens"] = sk.bands, sk.exact, sk.n_tokens
        packed["fp"] = sk.fingerprint
        for j, i in enumerate(missing):
            rows[i] = packed[j].tobytes()
            memo.put(keys[i], rows[i])  # type: ignore[arg-type]
    rec = np.frombuffer(b"".join(rows), dtype=_ROW)  # type: ignore[arg-type]
    return Sketch(rec["bands"].copy(), rec["exact"].copy(), rec["n_tokens"].copy(), rec["fp"].copy())


def _sketch(texts: pa.Array, *, num_perm: int, bands: int) -> Sketch:
    norm = normalize(texts)
    n = len(norm)
    tok = tokenize(norm)
    sig = signatures(tok, n, num_perm=num_perm)
    keys = band_keys(sig, bands)
    keys[tok.counts == 0] = 0
    fp = np.where(filled_bins(sig), (sig & _U64(0xFFFF)) | _U64(1), 0).astype(np.uint16)
    return Sketch(keys, exact_hashes(tok, n), tok.counts, fp)


def band_match_probability(similarity: float, *, num_perm: int = NUM_PERM, bands: int = BANDS) -> float:
    """Chance that two prompts of Jaccard similarity ``similarity`` share ≥ 1 band."""
    rows = num_perm // bands
    return 1.0 - (1.0 - similarity**rows) ** bands
