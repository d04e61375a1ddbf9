"""Template clusters over a whole world, and per-account template statistics.

Why: a distiller generates prompts at scale by filling a few templates ("Solve the
following problem step by step: {problem}") with many slot values, and a hydra network
runs the same templates from hundreds of accounts. Clustering masked prompts across the
*whole* world (not per account) makes both visible: an account's share of prompts in
template clusters, how many templates it uses, how much the slots vary, and which
accounts share a template (an edge in the campaign graph).

Cost is bounded by a deterministic per-account sample (``row_number() over (partition
by account_id order by hash(request_id))``), streamed from DuckDB in Arrow batches;
clusters are connected components of the LSH band graph (each prompt linked to the first
prompt of every band bucket it falls in), so no pairwise comparison is ever made.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from distillguard.features import minhash

ARTEFACT_KEY = "templates"
"""``ctx.artefacts`` key under which :func:`world_templates` caches its result."""


@dataclass(frozen=True)
class PromptSample:
    """Sketches of a deterministic per-account sample of prompts (one row per prompt)."""

    accounts: list[str]  # account ids; ``account`` indexes into this list
    account: np.ndarray  # int64 (n,)
    request_id: pa.Array  # string ids (an Arrow array: millions of ids as Python strings cost too much)
    raw_hash: np.ndarray  # uint64 (n,): hash of the unmasked prompt (slot values differ)
    sketch: minhash.Sketch
    totals: np.ndarray  # int64 per account: all its prompts in the window, not only sampled

    @property
    def size(self) -> int:
        return len(self.account)

    def request_ids(self, rows: np.ndarray | list[int]) -> list[str]:
        """Request ids of the given sample rows."""
        return [str(x) for x in self.request_id.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()]


def sample_prompts(con: duckdb.DuckDBPyConnection, per_account: int = 400, batch_rows: int = 20_000,
                   table: str = "events", threads: int = 2) -> PromptSample:
    """Sketch up to ``per_account`` prompts per account, chosen by hash(request_id)."""
    totals_tbl = con.sql(
        f"select account_id, count(*)::bigint as n from {table} group by account_id order by account_id"
    ).to_arrow_table()
    accounts = totals_tbl.column("account_id").to_pylist()
    account_set = totals_tbl.column("account_id").combine_chunks()
    reader = con.sql(
        f"""select account_id, request_id, prompt, hash(coalesce(prompt, '')) as raw_hash
            from (select account_id, request_id, prompt,
                         row_number() over (partition by account_id order by hash(request_id), request_id) as rn
                  from {table})
            where rn <= {int(per_account)} order by account_id, request_id"""
    ).to_arrow_reader(batch_rows)
    acc_parts, rid_parts, raw_parts, sketches = [], [], [], []
    # Sketching releases the GIL (Arrow kernels, numpy), so a small pool overlaps batches;
    # at most 2 × threads batches are in flight, results are kept in reading order.
    pending: deque[Future[minhash.Sketch]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            acc_parts.append(pc.index_in(batch.column(0), value_set=account_set).to_numpy(zero_copy_only=False)
                             .astype(np.int64))
            rid_parts.append(batch.column(1).cast(pa.string()))
            raw_parts.append(batch.column(3).to_numpy(zero_copy_only=False).astype(np.uint64))
            pending.append(pool.submit(minhash.sketch, batch.column(2)))
            while len(pending) >= 2 * max(1, threads):
                sketches.append(pending.popleft().result())
        while pending:
            sketches.append(pending.popleft().result())
    if sketches:
        sk = minhash.Sketch(np.concatenate([s.bands for s in sketches]), np.concatenate([s.exact for s in sketches]),
                            np.concatenate([s.n_tokens for s in sketches]),
                            np.concatenate([s.fingerprint for s in sketches]))  # type: ignore[misc]
        account = np.concatenate(acc_parts)
        raw = np.concatenate(raw_parts)
    else:
        sk = minhash.Sketch(np.zeros((0, minhash.BANDS), np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                            np.zeros((0, minhash.NUM_PERM), np.uint16))
        account, raw = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    totals = totals_tbl.column("n").to_numpy().astype(np.int64)
    rids = pa.concat_arrays(rid_parts) if rid_parts else pa.array([], pa.string())
    return PromptSample(accounts, account, rids, raw, sk, totals)


def cluster_prompts(bands: np.ndarray, eligible: np.ndarray, fingerprint: np.ndarray | None = None,
                    verify: float = 0.6) -> np.ndarray:
    """Connected components of the "shares an LSH band" graph; -1 for ineligible prompts.

    Each prompt is linked to the first prompt of every band bucket it falls in, and, when
    fingerprints are given, only if their estimated similarity is at least ``verify``:
    a chance band collision must not chain unrelated prompts into one giant cluster.
    Labels are deterministic (numbered by first appearance).
    """
    n = len(bands)
    labels = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(eligible)
    if len(idx) == 0:
        return labels
    fp = fingerprint[idx] if fingerprint is not None else None
    rows, cols = [], []
    for b in range(bands.shape[1]):
        rep = _first_of_bucket(bands[idx, b])
        linked = np.flatnonzero(rep != np.arange(len(idx)))
        if fp is not None and len(linked):
            linked = linked[minhash.similarity(fp[linked], fp[rep[linked]]) >= verify]
        rows.append(linked)
        cols.append(rep[linked])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(idx), len(idx))).tocsr()
    _, comp = connected_components(graph, directed=False)
    # Relabel so labels follow first appearance (deterministic, compact).
    _, first_pos, inv = np.unique(comp, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_pos))
    labels[idx] = order[inv]
    return labels


def _first_of_bucket(keys: np.ndarray) -> np.ndarray:
    """For each position, the smallest position holding the same key.

    Same result as ``np.unique(..., return_index=True, return_inverse=True)`` followed by
    ``first[inverse]``, but with one unstable (SIMD quicksort) argsort and a
    ``minimum.reduceat`` instead of a stable mergesort plus an inverse pass: the band
    loop runs once per band and per replay prefix, so this is the clustering hot spot.
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    perm = np.argsort(keys)
    sk = keys[perm]
    starts = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
    firsts = np.minimum.reduceat(perm, starts)
    rep = np.empty(n, dtype=np.int64)
    rep[perm] = np.repeat(firsts, np.diff(np.append(starts, n)))
    return rep


@dataclass(frozen=True)
class WorldTemplates:
    """Template clusters of a world plus per-account statistics (see :func:`account_stats`)."""

    sample: PromptSample
    labels: np.ndarray  # cluster per sampled prompt, -1 if too short to be a template
    pairs: pa.Table  # (account_idx, template, count) with count >= min_per_template
    stats: pa.Table  # one row per account, see account_stats
    min_per_template: int


def world_templates(con: duckdb.DuckDBPyConnection, *, per_account: int = 400, min_tokens: int = 8,
                    min_per_template: int = 3, batch_rows: int = 20_000, threads: int = 2,
                    cache: dict[str, Any] | None = None) -> WorldTemplates:
    """Sample, sketch and cluster a world's prompts; cached in ``cache`` (ctx.artefacts)."""
    key = (per_account, min_tokens, min_per_template)
    if cache is not None and ARTEFACT_KEY in cache and cache[ARTEFACT_KEY][0] == key:
        return cache[ARTEFACT_KEY][1]  # type: ignore[no-any-return]
    sample = sample_prompts(con, per_account, batch_rows, threads=threads)
    labels = cluster_prompts(sample.sketch.bands, sample.sketch.n_tokens >= min_tokens, sample.sketch.fingerprint)
    pairs, stats = account_stats(sample, labels, min_per_template)
    result = WorldTemplates(sample, labels, pairs, stats, min_per_template)
    if cache is not None:
        cache[ARTEFACT_KEY] = (key, result)
    return result


POPULAR_SHARE = 0.1
"""A template used by more than this share of the world's accounts is a popular phrasing."""
REFERENCE_POPULATION = 200
"""Popularity is relative to at least this many accounts (a 30-account test world is not 'the world')."""


def account_stats(sample: PromptSample, labels: np.ndarray, min_per_template: int = 3) -> tuple[pa.Table, pa.Table]:
    """Per-account template use.

    A cluster counts as one of an account's templates when at least ``min_per_template``
    of the account's sampled prompts fall in it: one near-duplicate is chance, a frame
    reused again and again is a template. Returns ``(pairs, stats)`` where stats has
    account_id, n_total, n_sampled, n_templated, n_templates, slot_diversity (distinct
    unmasked prompts / templated prompts: a slot sweep is ~1, a retry loop ~0),
    top_template, top_share, accounts_sharing (most accounts seen in any of its
    templates), n_templated_popular (templated prompts in templates more than
    ``POPULAR_SHARE`` of the world's accounts use: the phrasing of a product's users, not
    one account's pipeline) and examples (request ids from its biggest template).
    """
    n_acc = len(sample.accounts)
    n_sampled = np.bincount(sample.account, minlength=n_acc)
    lab = labels >= 0
    width = int(labels.max()) + 1 if lab.any() else 1
    key = sample.account[lab] * width + labels[lab]
    ukey, counts = np.unique(key, return_counts=True)
    pa_acc, pa_tpl = ukey // width, ukey % width
    accounts_per_tpl = np.bincount(pa_tpl, minlength=width)
    keep = counts >= min_per_template
    p_acc, p_tpl, p_cnt = pa_acc[keep], pa_tpl[keep], counts[keep]
    pairs = pa.table({"account_idx": p_acc, "template": p_tpl, "count": p_cnt,
                      "accounts_sharing": accounts_per_tpl[p_tpl]})
    n_templated = np.bincount(p_acc, weights=p_cnt, minlength=n_acc).astype(np.int64)
    popular = accounts_per_tpl[p_tpl] > POPULAR_SHARE * max(n_acc, REFERENCE_POPULATION)
    n_popular = np.bincount(p_acc[popular], weights=p_cnt[popular], minlength=n_acc).astype(np.int64)
    n_templates = np.bincount(p_acc, minlength=n_acc)
    # Prompts that sit in one of their account's templates.
    kept_keys = p_acc * width + p_tpl
    prompt_key = np.where(lab, sample.account * width + np.maximum(labels, 0), -1)
    in_tpl = np.isin(prompt_key, kept_keys) & lab
    distinct = np.zeros(n_acc, dtype=np.int64)
    if in_tpl.any():
        a_raw = np.unique(np.stack([sample.account[in_tpl].astype(np.uint64), sample.raw_hash[in_tpl]]), axis=1)
        distinct = np.bincount(a_raw[0].astype(np.int64), minlength=n_acc)
    with np.errstate(invalid="ignore", divide="ignore"):
        diversity = np.where(n_templated > 0, distinct / np.maximum(n_templated, 1), 0.0)
    top_tpl = np.full(n_acc, -1, dtype=np.int64)
    top_cnt = np.zeros(n_acc, dtype=np.int64)
    sharing = np.zeros(n_acc, dtype=np.int64)
    if len(p_acc):
        order = np.lexsort((p_tpl, -p_cnt, p_acc))
        first = np.unique(p_acc[order], return_index=True)[1]
        top_tpl[p_acc[order][first]] = p_tpl[order][first]
        top_cnt[p_acc[order][first]] = p_cnt[order][first]
        np.maximum.at(sharing, p_acc, accounts_per_tpl[p_tpl])
    examples: list[list[str]] = [[] for _ in range(n_acc)]
    is_top = np.flatnonzero(lab & (labels == top_tpl[sample.account]))
    if len(is_top):
        acc_top = sample.account[is_top]
        first = np.searchsorted(acc_top, acc_top, side="left")  # sample rows are sorted by account
        keep = is_top[(np.arange(len(is_top)) - first) < 3]
        for i, rid in zip(keep.tolist(), sample.request_ids(keep)):
            examples[sample.account[i]].append(rid)
    stats = pa.table({
        "account_id": pa.array(sample.accounts, pa.string()),
        "n_total": sample.totals,
        "n_sampled": n_sampled.astype(np.int64),
        "n_templated": n_templated,
        "n_templates": n_templates.astype(np.int64),
        "n_templated_popular": n_popular,
        "slot_diversity": diversity.astype(np.float64),
        "top_template": top_tpl,
        "top_share": np.where(n_sampled > 0, top_cnt / np.maximum(n_sampled, 1), 0.0),
        "accounts_sharing": sharing,
        "examples": pa.array(examples, pa.list_(pa.string())),
    })
    return pairs, stats
