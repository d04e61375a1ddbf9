"""A cheap, deterministic text representation and bounded per-account prompt samples.

Why this exists: the baselines (PRADA, SEAT, CAP, MMD) and the window test compare
prompts by distance, which needs vectors. A provider scanning a month of logs cannot
afford a neural encoder on every prompt, and a scan must not download models, so we
use the oldest trick that works: hashed word unigrams and bigrams (a count sketch, itself a
random projection of the n-gram space) followed by a fixed sparse random projection
to ``dim`` dimensions and L2 normalisation. Same text -> same vector on every machine.
Digits are masked first so "What is 17+4?" and "What is 9+31?" land together, which is
what a similarity encoder (SEAT) is meant to learn anyway. Word n-grams, not character
n-grams: four times faster in scikit-learn's tokenizer, and close enough on prompts
(scripts without spaces, e.g. Chinese, degrade to whole-clause tokens; see docs/baselines.md).

Cost is bounded by sampling: each account contributes at most ``k`` prompts, chosen
deterministically by ``hash(request_id)`` in DuckDB, streamed in Arrow batches ordered
by account so memory holds one batch plus one account at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa
from sklearn.feature_extraction.text import HashingVectorizer

from distillguard.features import _memo

DEFAULT_DIM = 128
_HASH_FEATURES = 2**15
_MAX_CHARS = 1000
_DIGITS = re.compile(r"\d+")


@lru_cache(maxsize=4)
def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        n_features=_HASH_FEATURES,
        alternate_sign=True,
        norm="l2",
        lowercase=True,
        dtype=np.float32,
    )


@lru_cache(maxsize=4)
def _projection(dim: int, seed: int) -> np.ndarray:
    """A fixed dense Gaussian projection (2**15 x dim); same seed -> same matrix."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((_HASH_FEATURES, dim)) / np.sqrt(dim)).astype(np.float32)


def mask_text(text: str) -> str:
    """Digits to a single '0' and text cut to 1,000 chars: slots vary, templates don't."""
    return _DIGITS.sub("0", text[:_MAX_CHARS])


def embed_texts(texts: list[str], *, dim: int = DEFAULT_DIM, seed: int = 0) -> np.ndarray:
    """Unit-length float32 vectors (len(texts) x dim); empty text gives a zero vector.

    Cosine similarity of two vectors approximates the cosine similarity of the texts'
    word 1-2-gram profiles (Johnson-Lindenstrauss), good enough to tell a templated
    sweep from a person's chat, not good enough to read meaning.
    """
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    # A vector is a pure function of the masked text, and masking digits makes slot sweeps
    # and repeated prompts collide: vectorise each distinct masked text once.
    masked = [mask_text(t or "") for t in texts]
    slot: dict[str, int] = {}
    idx = np.fromiter((slot.setdefault(m, len(slot)) for m in masked), dtype=np.int64, count=len(masked))
    memo = _memo.memo("embed") if (dim, seed) == (DEFAULT_DIM, 0) else None
    uniq = _embed_masked(list(slot), dim, seed) if memo is None else _memo_embed(list(slot), memo, dim)
    return uniq if len(slot) == len(masked) else uniq[idx]


def _memo_embed(masked: list[str], memo: _memo.TextMemo, dim: int) -> np.ndarray:
    """Vectors of distinct masked texts, reusing those the scan's memo already holds."""
    rows = [memo.get(m) for m in masked]
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        fresh = _embed_masked([masked[i] for i in missing], dim, 0)
        for j, i in enumerate(missing):
            rows[i] = fresh[j].tobytes()
            memo.put(masked[i], rows[i])  # type: ignore[arg-type]
    return np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(masked), dim).copy()  # type: ignore[arg-type]


def _embed_masked(masked: list[str], dim: int, seed: int) -> np.ndarray:
    sparse = _vectorizer().transform(masked)
    dense = np.asarray(sparse @ _projection(dim, seed), dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


@dataclass(frozen=True)
class AccountSample:
    """Up to ``k`` prompts of one account, in time order, with their vectors."""

    account_id: str
    total: int  # how many requests the account made in the scan window
    request_ids: list[str]
    ts: np.ndarray  # int64 microseconds, ascending
    vectors: np.ndarray  # (n, dim) float32, unit length


def _sample_sql(k: int, where: str = "") -> str:
    return f"""
        with s as (
            select account_id, request_id, ts, substr(coalesce(prompt, ''), 1, {_MAX_CHARS}) as prompt,
                   row_number() over (partition by account_id order by hash(request_id), request_id) as rn,
                   count(*) over (partition by account_id) as total
            from events {where}
        )
        select account_id, request_id, epoch_us(ts) as ts_us, prompt, total
        from s where rn <= {int(k)}
        order by account_id, ts_us, request_id
    """


def iter_account_samples(
    con: duckdb.DuckDBPyConnection,
    *,
    k: int,
    min_n: int = 1,
    dim: int = DEFAULT_DIM,
    batch_rows: int = 20_000,
    where: str = "",
) -> Iterator[AccountSample]:
    """Stream one :class:`AccountSample` per account with at least ``min_n`` requests.

    Vectors are computed a batch at a time (one vectoriser call per batch, not per
    account); an account cut by a batch boundary is carried over to the next batch.
    """
    reader = con.sql(_sample_sql(k, where)).to_arrow_reader(batch_rows)
    carry: dict[str, list] | None = None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        ids = batch.column("account_id").to_pylist()
        vecs = embed_texts(batch.column("prompt").to_pylist(), dim=dim)
        rids = batch.column("request_id").to_pylist()
        ts = batch.column("ts_us").to_numpy(zero_copy_only=False)
        totals = batch.column("total").to_pylist()
        start = 0
        for i in range(1, len(ids) + 1):
            if i < len(ids) and ids[i] == ids[start]:
                continue
            part = [ids[start], totals[start], rids[start:i], ts[start:i], vecs[start:i]]
            if carry is not None and carry[0] == part[0]:
                carry = [part[0], part[1], carry[2] + part[2], np.concatenate([carry[3], part[3]]),
                         np.concatenate([carry[4], part[4]])]
            else:
                if carry is not None:
                    yield from _emit(carry, min_n)
                carry = part
            start = i
    if carry is not None:
        yield from _emit(carry, min_n)


def _emit(part: list, min_n: int) -> Iterator[AccountSample]:
    if len(part[2]) >= min_n:
        yield AccountSample(str(part[0]), int(part[1]), list(part[2]), np.asarray(part[3]), part[4])


def pooled_sample(
    con: duckdb.DuckDBPyConnection, *, n: int, dim: int = DEFAULT_DIM, where: str = ""
) -> np.ndarray:
    """A deterministic sample of ``n`` prompt vectors from the whole window (or ``where``)."""
    rows = con.sql(
        f"select substr(coalesce(prompt, ''), 1, {_MAX_CHARS}) as prompt from events {where} "
        f"order by hash(request_id), request_id limit {int(n)}"
    ).to_arrow_table()
    return embed_texts(rows.column("prompt").to_pylist(), dim=dim)


def texts_of(table: pa.Table, column: str = "prompt") -> list[str]:
    """Strings of a column, nulls as empty text."""
    return [t or "" for t in table.column(column).to_pylist()]
