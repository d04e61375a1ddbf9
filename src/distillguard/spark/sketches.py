"""Template sketches on Spark: the per-account sample, MinHash, LSH banding and clusters.

Equal to :func:`distillguard.features.templates.world_templates` step for step:

1. the sample is each account's ``per_account`` events with the smallest DuckDB
   ``hash(request_id)`` (the ``rh`` column of the request features), as in ``sample_prompts``;
2. each prompt is sketched by :func:`distillguard.features.minhash.sketch` inside
   ``mapInArrow`` (the same numpy code, so the same band keys and fingerprints);
3. LSH banding is a DataFrame ``posexplode`` of the 16 band keys and a group-by on
   (band, key): each eligible prompt is linked to the first prompt of its bucket in sample
   order (account_id, request_id), and the link is kept when the fingerprints' estimated
   similarity reaches ``verify`` (computed by ``minhash.similarity`` in ``mapInArrow``);
4. clusters are connected components of those links (:func:`distillguard.spark.graph.connected_components`).

The driver then numbers clusters by first appearance and computes per-account template
statistics with ``features.templates.account_stats`` over the collected sample (bounded by
accounts × ``per_account``, as in the DuckDB scan) and builds the same ``WorldTemplates``
the templating and known-corpus detectors and the campaign graph read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from distillguard.features import minhash
from distillguard.features.templates import PromptSample, WorldTemplates, account_stats

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_TOP = np.uint64(1 << 63)
SKETCH_DDL = ("pid bigint, account_id string, request_id string, raw_hash bigint, bands array<bigint>, "
              "exact bigint, n_tokens bigint, fp binary")


def to_signed(u: np.ndarray) -> np.ndarray:
    """uint64 → int64, order-preserving (x − 2^63), as the request features store DuckDB hashes."""
    return (u.astype(np.uint64) ^ _TOP).view(np.int64)


def to_unsigned(s: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_signed`."""
    return s.astype(np.int64).view(np.uint64) ^ _TOP


def sketch_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: (pid, account_id, request_id, prompt, raw_hash) → MinHash sketch columns."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        sk = minhash.sketch(batch.column("prompt"))
        n = batch.num_rows
        bands = to_signed(sk.bands.reshape(-1)).reshape(n, -1)
        fp = np.ascontiguousarray(sk.fingerprint, dtype="<u2")
        offsets = np.arange(0, (n + 1) * bands.shape[1], bands.shape[1], dtype=np.int32)
        band_col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(bands.reshape(-1), pa.int64()))
        fp_col = pa.array([fp[i].tobytes() for i in range(n)], pa.binary())
        yield pa.RecordBatch.from_arrays(
            [batch.column("pid"), batch.column("account_id"), batch.column("request_id"), batch.column("raw_hash"),
             band_col, pa.array(to_signed(sk.exact), pa.int64()), pa.array(sk.n_tokens.astype(np.int64)), fp_col],
            names=["pid", "account_id", "request_id", "raw_hash", "bands", "exact", "n_tokens", "fp"])


def _verify_batches(verify: float) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            a = np.frombuffer(b"".join(batch.column("fp_a").to_pylist()), dtype="<u2").reshape(batch.num_rows, -1)
            b = np.frombuffer(b"".join(batch.column("fp_b").to_pylist()), dtype="<u2").reshape(batch.num_rows, -1)
            keep = minhash.similarity(a, b) >= verify
            idx = pa.array(np.flatnonzero(keep))
            yield pa.RecordBatch.from_arrays([batch.column("src").take(idx), batch.column("dst").take(idx)],
                                             names=["src", "dst"])
    return run


def sample(rf: "DataFrame", events: "DataFrame", per_account: int) -> "DataFrame":
    """Each account's ``per_account`` events with the smallest hash(request_id), with their prompts."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    w = Window.partitionBy("account_id").orderBy("rh", "request_id")
    picked = (rf.select("account_id", "request_id", "rh", "raw_hash")
              .withColumn("_k", F.row_number().over(w)).where(F.col("_k") <= int(per_account)).drop("_k"))
    prompts = events.select("request_id", "prompt")
    return picked.join(prompts, "request_id").select(F.col("rh").alias("pid"), "account_id", "request_id",
                                                     "prompt", "raw_hash")


def sketch(sampled: "DataFrame") -> "DataFrame":
    """MinHash sketches of the sampled prompts, computed on the executors."""
    return sampled.mapInArrow(sketch_batches, SKETCH_DDL)


def band_links(sketches: "DataFrame", min_tokens: int = 8, verify: float = 0.6) -> "DataFrame":
    """Verified LSH links (src, dst): each eligible prompt → the first prompt of each of its band buckets.

    "First" is the smallest (account_id, request_id), the DuckDB sample's order; a link is kept
    when the one-permutation similarity of the two fingerprints is at least ``verify``.
    """
    from pyspark.sql import functions as F

    el = sketches.where(F.col("n_tokens") >= int(min_tokens))
    exploded = el.select("pid", "account_id", "request_id", F.posexplode("bands").alias("b", "key"))
    reps = (exploded.groupBy("b", "key")
            .agg(F.min(F.struct("account_id", "request_id", "pid")).alias("rep"))
            .select("b", "key", F.col("rep.pid").alias("rep_pid")))
    cand = (exploded.join(reps, ["b", "key"]).where(F.col("pid") != F.col("rep_pid"))
            .select(F.col("pid").alias("src"), F.col("rep_pid").alias("dst")).distinct())
    fps = el.select("pid", "fp")
    pairs = (cand.join(fps.select(F.col("pid").alias("src"), F.col("fp").alias("fp_a")), "src")
             .join(fps.select(F.col("pid").alias("dst"), F.col("fp").alias("fp_b")), "dst")
             .select("src", "dst", "fp_a", "fp_b"))
    return pairs.mapInArrow(_verify_batches(verify), "src bigint, dst bigint")


def world_templates(sketches: "DataFrame", totals: pa.Table, *, min_tokens: int = 8, min_per_template: int = 3,
                    verify: float = 0.6, local_finish: int = 0, with_sketches: bool = True) -> WorldTemplates:
    """The ``WorldTemplates`` of a world from its Spark sketches (see the module docstring).

    ``totals`` holds (account_id, n): every account of the window and its event count.
    ``with_sketches=False`` leaves the band keys and fingerprints on Spark (zeros on the
    driver): only the known-corpus match reads them, and they are most of the sample's bytes.
    """
    from pyspark.sql import functions as F

    from distillguard.spark.graph import connected_components

    el = sketches.where(F.col("n_tokens") >= int(min_tokens)).select(F.col("pid").alias("id"))
    comp = connected_components(band_links(sketches, min_tokens, verify), el, local_finish=local_finish)
    cols = ["account_id", "request_id", "raw_hash", "exact", "n_tokens", "component"]
    if with_sketches:
        cols[3:3] = ["bands", "fp"]
    rows = sketches.join(comp.withColumnRenamed("id", "pid"), "pid", "left").select(*cols).toArrow()
    return _assemble(rows, totals, min_per_template)


def _assemble(rows: pa.Table, totals: pa.Table, min_per_template: int) -> WorldTemplates:
    """Driver side: order the sample as DuckDB does, number clusters by first appearance, stats."""
    totals = totals.sort_by("account_id")
    accounts = totals.column("account_id").to_pylist()
    rows = rows.sort_by([("account_id", "ascending"), ("request_id", "ascending")])
    n = rows.num_rows
    pos = {a: i for i, a in enumerate(accounts)}
    account = np.array([pos[a] for a in rows.column("account_id").to_pylist()], dtype=np.int64)
    if n and "bands" in rows.column_names:
        bands = to_unsigned(np.asarray(rows.column("bands").combine_chunks().values.to_numpy())).reshape(n, -1)
        fp = np.frombuffer(b"".join(rows.column("fp").to_pylist()), dtype="<u2").reshape(n, -1).copy()
    elif n:  # left on Spark (with_sketches=False)
        bands = np.zeros((n, minhash.BANDS), np.uint64)
        fp = np.zeros((n, minhash.NUM_PERM), np.uint16)
    else:
        bands = np.zeros((0, minhash.BANDS), np.uint64)
        fp = np.zeros((0, minhash.NUM_PERM), np.uint16)
    sk = minhash.Sketch(bands, to_unsigned(rows.column("exact").to_numpy(zero_copy_only=False)),
                        rows.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.int64), fp)
    comp_col = rows.column("component").combine_chunks() if n else pa.array([], pa.int64())
    ok = comp_col.is_valid().to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
    comp = comp_col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64) if n else np.zeros(0, np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(ok)
    if len(idx):
        _, first_pos, inv = np.unique(comp[idx], return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first_pos))
        labels[idx] = order[inv]
    smp = PromptSample(accounts, account, rows.column("request_id").combine_chunks().cast(pa.string()),
                       to_unsigned(rows.column("raw_hash").to_numpy(zero_copy_only=False)), sk,
                       totals.column("n").to_numpy(zero_copy_only=False).astype(np.int64))
    pairs, stats = account_stats(smp, labels, min_per_template)
    return WorldTemplates(smp, labels, pairs, stats, min_per_template)


__all__ = ["band_links", "sample", "sketch", "sketch_batches", "to_signed", "to_unsigned", "world_templates"]
