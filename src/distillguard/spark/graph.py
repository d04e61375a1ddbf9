"""The account graph on Spark: attributes, edges by joins, connected components, giant splits.

Equal to :mod:`distillguard.campaigns.graph` (``collect_attributes`` + ``build_graph``):
every shared attribute value is a bucket of accounts; a bucket of up to ``clique_max``
accounts becomes a clique (a self-join on the bucket), a larger one an expander (each member
joined to the members 1, 2, 4, 8 … places after it), each edge weighs the value's rarity;
per pair each kind is capped at its base weight, kinds describing one fact share a cap, and
pairs below ``min_edge_weight`` are dropped. Never a join over all pairs of accounts.

Connected components are iterative min-label propagation with pointer jumping, as
DataFrame joins (no GraphFrames jar, no RDDs): labels only decrease, and a fixpoint is
reached after O(diameter) rounds, fewer with the jumps. A component larger than
``max_component`` accounts is split before community detection by keeping its rarest
ties (the strongest edges) until every piece fits: Leiden then runs per component on one
executor (:mod:`distillguard.spark.communities`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from distillguard.campaigns.graph import (DISPOSABLE_DOMAINS, GROUP_CAPS, GraphParams, email_shape, subnet)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _checkpoint(df: "DataFrame") -> "DataFrame":
    """Cut the lineage of an iterative plan (local checkpoint: no checkpoint folder needed)."""
    return df.localCheckpoint(eager=True)


def connected_components(edges: "DataFrame", vertices: "DataFrame | None" = None, max_rounds: int = 100,
                         local_finish: int = 0) -> "DataFrame":
    """(id, component) for every vertex; the component is its smallest vertex id.

    ``edges`` has bigint columns ``src``, ``dst`` (undirected); ``vertices`` (column ``id``)
    adds isolated vertices. Each round every representative points to the smallest of itself
    and its neighbours, pointers are followed to their tree's root (:func:`_jump_to_roots`),
    vertices follow their representative, and the residual edges are contracted onto the
    roots, so the graph shrinks every round (a path collapses in one). Once at most
    ``local_finish`` residual edges remain they are collected and finished with scipy on
    the driver (0: every round on Spark). Raises RuntimeError if no fixpoint after ``max_rounds``.
    """
    from pyspark.sql import functions as F

    e = edges.select(F.col("src").cast("bigint").alias("a"), F.col("dst").cast("bigint").alias("b")) \
        .where(F.col("a") != F.col("b"))
    resid = _checkpoint(e.union(e.select(F.col("b").alias("a"), F.col("a").alias("b"))).distinct())
    ids = resid.select(F.col("a").alias("id"))
    if vertices is not None:
        ids = ids.union(vertices.select(F.col("id").cast("bigint").alias("id")))
    labels = _checkpoint(ids.distinct().withColumn("label", F.col("id")))
    for _ in range(max_rounds):
        k = resid.count()
        if k == 0:
            return labels.withColumnRenamed("label", "component")
        if k <= 2 * local_finish:
            return _finish_locally(labels, resid)
        ptr = resid.groupBy(F.col("a").alias("id")).agg(F.min("b").alias("m")) \
            .select("id", F.least("id", "m").alias("p"))
        jump = _jump_to_roots(_checkpoint(ptr))
        labels = _checkpoint(labels.join(jump.withColumnRenamed("id", "label"), "label", "left")
                             .select("id", F.coalesce("p", "label").alias("label")))
        resid = _checkpoint(
            resid.join(jump.select(F.col("id").alias("a"), F.col("p").alias("pa")), "a", "left")
            .join(jump.select(F.col("id").alias("b"), F.col("p").alias("pb")), "b", "left")
            .select(F.coalesce("pa", "a").alias("a"), F.coalesce("pb", "b").alias("b"))
            .where(F.col("a") != F.col("b")).distinct())
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _jump_to_roots(ptr: "DataFrame", max_rounds: int = 64) -> "DataFrame":
    """Pointer jumping to a fixpoint: every node ends pointing at the root of its pointer tree.

    Pointers only go to smaller ids, so they form a forest; following them to the roots
    (log depth rounds) collapses a whole tree (a path included) in one contraction step,
    and the number of representatives at least halves every round.
    """
    from pyspark.sql import functions as F

    for _ in range(max_rounds):
        nxt = _checkpoint(ptr.alias("x").join(ptr.alias("y"), F.col("x.p") == F.col("y.id"), "left")
                          .select(F.col("x.id").alias("id"), F.col("x.p").alias("old"),
                                  F.coalesce(F.col("y.p"), F.col("x.p")).alias("p")))
        changed = nxt.where(F.col("p") != F.col("old")).count()
        ptr = nxt.drop("old")
        if changed == 0:
            return ptr
    raise RuntimeError("pointer jumping did not converge")


def _finish_locally(labels: "DataFrame", resid: "DataFrame") -> "DataFrame":
    """Finish on the driver: components of the (small) residual graph of representatives."""
    import numpy as np
    from pyspark.sql import functions as F
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    t = resid.toArrow()
    a = t.column("a").to_numpy()
    b = t.column("b").to_numpy()
    nodes, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = len(a)
    g = coo_matrix((np.ones(m, np.int8), (inv[:m], inv[m:])), shape=(len(nodes), len(nodes)))
    _, comp = cc(g, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, comp, nodes)  # nodes are sorted ids: the smallest id of each component
    spark = labels.sparkSession
    mapping = spark.createDataFrame(pa.table({"label": pa.array(nodes, pa.int64()),
                                              "final": pa.array(smallest[comp], pa.int64())}))
    return (labels.join(mapping, "label", "left")
            .select("id", F.coalesce("final", "label").alias("component")))


def split_giants(edges: "DataFrame", comp: "DataFrame", max_component: int, rounds: int = 8,
                 local_finish: int = 0) -> "DataFrame":
    """Components of at most ``max_component`` vertices: giant ones re-cut on their rarest ties.

    Each round, inside every component still larger than ``max_component``, the edges of its
    lowest weight (the commonest ties: a busy NAT, a popular client; weight falls with how
    many accounts share a value) are dropped and components recomputed, so what stays
    together is what shares rare facts. Vertices of a giant left without edges become singletons (no campaign).
    ``edges`` has src, dst, weight; returns (id, component) with component ids unique.
    """
    from pyspark.sql import functions as F

    e = edges.select("src", "dst", "weight")
    for _ in range(rounds):
        sizes = comp.groupBy("component").count()
        giants = sizes.where(F.col("count") > int(max_component)).select("component")
        if giants.limit(1).count() == 0:
            return comp
        in_giant = comp.join(giants, "component")
        ge = (e.join(in_giant.select(F.col("id").alias("src"), "component"), "src")
              .join(in_giant.select(F.col("id").alias("dst"), F.col("component").alias("c2")), "dst")
              .where(F.col("component") == F.col("c2")).drop("c2"))
        low = ge.groupBy("component").agg(F.min("weight").alias("low"))
        # The weakest tier goes: a giant whose ties all weigh the same is a population, not a campaign.
        kept = ge.join(low, "component").where(F.col("weight") > F.col("low")).select("src", "dst", "weight")
        sub = connected_components(kept, in_giant.select("id"), local_finish=local_finish)
        rest = comp.join(giants, "component", "left_anti")
        comp = _checkpoint(rest.select("id", "component").unionByName(sub.select("id", "component")))
        e = kept.unionByName(e.join(rest.select(F.col("id").alias("src")), "src").select("src", "dst", "weight"))
    return comp


# ------------------------------------------------------------------ attributes
def _epoch_bucket(col: str, seconds: int) -> str:
    """Spark SQL equal to DuckDB's ``epoch(ts)::bigint // seconds`` (DuckDB rounds the cast)."""
    return f"floor(CAST(round(CAST(unix_micros({col}) AS DOUBLE) / 1000000.0D) AS BIGINT) / {int(seconds)})"


@lru_cache(maxsize=262144)
def _subnet(ip: str) -> str | None:
    return subnet(ip)


def _subnet_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for b in batches:
        vals = [_subnet(ip) for ip in b.column("ip").to_pylist()]
        w = b.column("w").to_pylist()
        keep = [i for i, s in enumerate(vals) if s]
        yield pa.RecordBatch.from_arrays(
            [b.column("account_id").take(pa.array(keep, pa.int64())),
             pa.array([f"{vals[i]}|{w[i]}" for i in keep], pa.string())], names=["account_id", "value"])


def _account_attr_batches(burst_minutes: int) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            acc, kind, val = [], [], []
            for r in b.to_pylist():
                a = r["account_id"]
                if r["payment_fingerprint"]:
                    acc.append(a); kind.append("payment"); val.append(str(r["payment_fingerprint"]))
                s = email_shape(r["email"])
                if s:
                    acc.append(a); kind.append("email_pattern"); val.append(s)
                    dom = s.rpartition("@")[2]
                    if dom in DISPOSABLE_DOMAINS:
                        acc.append(a); kind.append("disposable_email"); val.append(dom)
                sn = subnet(r["signup_ip"])
                if sn:
                    acc.append(a); kind.append("signup_subnet"); val.append(sn)
                if r["burst"] is not None:
                    acc.append(a); kind.append("signup_burst"); val.append(str(int(r["burst"])))
            yield pa.RecordBatch.from_arrays([pa.array(acc, pa.string()), pa.array(kind, pa.string()),
                                              pa.array(val, pa.string())], names=["account_id", "kind", "value"])
    return run


ATTR_DDL = "account_id string, kind string, value string"


def attributes(spark: "SparkSession", events: "DataFrame", accounts: "DataFrame | None", params: GraphParams,
               template_attrs: pa.Table | None = None) -> "DataFrame":
    """Every (account_id, kind, value) the graph links on, as ``campaigns.graph.collect_attributes``."""
    from pyspark.sql import functions as F

    if params.weights.get("sync_hours", 0.0) > 0:
        from distillguard.errors import ConfigError

        raise ConfigError("campaigns.weights.sync_hours > 0 (hour-set LSH edges) is not available with "
                          "--engine spark; use the DuckDB engine for it")
    win = max(1, int(params.window_hours)) * 3600
    start = max(1, int(params.start_minutes)) * 60
    burst = max(1, int(params.burst_minutes)) * 60
    events.createOrReplaceTempView("_dg_attr_events")
    ips = spark.sql(f"""SELECT DISTINCT account_id, ip, CAST({_epoch_bucket('ts', win)} AS BIGINT) AS w
                        FROM _dg_attr_events WHERE ip IS NOT NULL""")
    parts = [ips.select("account_id", F.lit("ip").alias("kind"), F.concat_ws("|", "ip", F.col("w").cast("string")).alias("value")),
             ips.mapInArrow(_subnet_batches, "account_id string, value string")
                .select("account_id", F.lit("subnet").alias("kind"), "value").distinct(),
             spark.sql("SELECT DISTINCT account_id, 'user_agent' AS kind, user_agent AS value FROM _dg_attr_events "
                       "WHERE user_agent IS NOT NULL"),
             spark.sql(f"""SELECT account_id, 'sync_start' AS kind,
                                  CAST(CAST({_epoch_bucket('min(ts)', start)} AS BIGINT) AS STRING) AS value
                           FROM _dg_attr_events GROUP BY account_id""")]
    if accounts is not None:
        acc = accounts.select("account_id", "payment_fingerprint", "email", "signup_ip",
                              F.expr(f"CAST({_epoch_bucket('created_at', burst)} AS BIGINT)").alias("burst"))
        parts.append(acc.mapInArrow(_account_attr_batches(params.burst_minutes), ATTR_DDL))
    if template_attrs is not None and template_attrs.num_rows:
        parts.append(spark.createDataFrame(template_attrs.select(["account_id", "kind", "value"])))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


# ---------------------------------------------------------------------- edges
def edges(spark: "SparkSession", attrs: "DataFrame", n_accounts: int, params: GraphParams,
          template_max_share: float | None = None) -> tuple["DataFrame", list[str]]:
    """Pair edges (src, dst account_id with src < dst, weight, density, w_<kind> per kind) and the kinds.

    The same arithmetic as ``campaigns.graph.build_graph`` (rarity, clique or expander per
    bucket, per-kind and per-group caps, ``min_edge_weight``), as joins and group-bys.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    import numpy as np

    from distillguard.campaigns.graph import rarity

    kinds = sorted(r[0] for r in attrs.select("kind").distinct().collect())
    a = attrs.select("account_id", "kind", "value").distinct()
    tshare = params.template_max_share if template_max_share is None else template_max_share
    w = Window.partitionBy("kind", "value").orderBy("account_id")
    b = (a.withColumn("size", F.count("*").over(Window.partitionBy("kind", "value")))
         .withColumn("rank", F.row_number().over(w) - 1))
    b = _checkpoint(b)
    # A value's weight and expander multiplier depend on (kind, bucket size) only: computed with
    # build_graph's own numpy (rarity, log2) so they are bit-identical, then joined back.
    ks = b.select("kind", "size").distinct().toArrow()
    kk = ks.column("kind").to_pylist()
    sz = ks.column("size").to_numpy().astype(np.int64)
    base_of = np.array([params.weights.get(k, 0.0) for k in kk], dtype=np.float64)
    is_tpl = np.array([k == "template" for k in kk], dtype=bool)
    wv = base_of * np.where(is_tpl, rarity(sz, n_accounts, params, tshare), rarity(sz, n_accounts, params))
    degree = 2.0 * np.ceil(np.log2(np.maximum(sz, 2)))
    mult = np.where(sz > params.clique_max, (sz - 1) / degree, 1.0)
    spark_ = attrs.sparkSession
    look = spark_.createDataFrame(pa.table({"kind": pa.array(kk, pa.string()), "size": pa.array(sz, pa.int64()),
                                            "wv": pa.array(wv, pa.float64()), "mult": pa.array(mult, pa.float64()),
                                            "base": pa.array(base_of, pa.float64())}))
    b = b.join(F.broadcast(look), ["kind", "size"]).where((F.col("size") >= 2) & (F.col("wv") > 0))
    left = b.select("kind", "value", "account_id", "rank", "size", "wv", "mult", "base")
    right = b.select("kind", "value", F.col("account_id").alias("other"), F.col("rank").alias("rank2"))
    small = (left.where(F.col("size") <= params.clique_max).join(right, ["kind", "value"])
             .where(F.col("rank") < F.col("rank2"))
             .withColumn("d", F.col("rank2") - F.col("rank")).withColumn("big", F.lit(False)))
    large = left.where(F.col("size") > params.clique_max)
    large = (large.withColumn("d", F.explode(F.expr("transform(sequence(0, CAST(ceil(log2(size)) AS INT) - 1), "
                                                    "k -> CAST(pow(2, k) AS BIGINT))")))
             .where(F.col("d") < F.col("size"))
             .withColumn("rank2", (F.col("rank") + F.col("d")) % F.col("size"))
             .join(right, ["kind", "value", "rank2"]).withColumn("big", F.lit(True)))
    cols = ["kind", "account_id", "other", "wv", "mult", "base", "d", "big", "value"]
    pe = small.select(*cols).unionByName(large.select(*cols))
    pe = (pe.select("kind", F.least("account_id", "other").alias("src"), F.greatest("account_id", "other").alias("dst"),
                    "wv", "mult", "base", "d", "big", "value").where(F.col("src") != F.col("dst")))
    # Sums in build_graph's order (clique loop before expander loop, offset, value), added one
    # by one as np.bincount does: the same doubles, so Leiden sees the same graph.
    ordered = F.array_sort(F.collect_list(F.struct("big", "d", "value", "wv", (F.col("wv") * F.col("mult")).alias("wm"))))
    pk = (pe.groupBy("src", "dst", "kind")
          .agg(ordered.alias("c"), F.first("base").alias("base"), F.max("mult").alias("mm"))
          .select("src", "dst", "kind",
                  F.least(F.aggregate("c", F.lit(0.0), lambda acc, x: acc + x["wv"]), F.col("base")).alias("strength"),
                  F.least(F.aggregate("c", F.lit(0.0), lambda acc, x: acc + x["wm"]),
                          F.col("base") * F.col("mm")).alias("dense")))
    piv = pk.groupBy("src", "dst").pivot("kind", kinds).agg(F.first("strength").alias("s"), F.first("dense").alias("d"))
    # One select of expressions (not a chain of withColumn): Spark Connect refuses deeply nested plans.
    w = {k: F.coalesce(F.col(f"{k}_s"), F.lit(0.0)) for k in kinds}
    d = {k: F.coalesce(F.col(f"{k}_d"), F.lit(0.0)) for k in kinds}
    for group, cap in GROUP_CAPS.items():
        present = [g for g in group if g in kinds]
        if len(present) > 1:
            tot = _np_row_sum([w[g] for g in present])
            scale = F.when(tot > cap, F.lit(cap) / F.greatest(tot, F.lit(1e-12))).otherwise(F.lit(1.0))
            for g in present:
                w[g], d[g] = w[g] * scale, d[g] * scale
    weight = _np_row_sum([w[k] for k in kinds]) if kinds else F.lit(0.0)
    dens = _np_row_sum([d[k] for k in kinds]) if kinds else F.lit(0.0)
    out = piv.select("src", "dst", weight.alias("weight"), dens.alias("density"),
                     *[w[k].alias(f"w_{k}") for k in kinds]).where(F.col("weight") >= params.min_edge_weight)
    return out.select("src", "dst", "weight", "density", *[f"w_{k}" for k in kinds]), kinds


def _np_row_sum(cols: list[Any]) -> Any:
    """Column expression adding ``cols`` in the order numpy's ``sum(axis=1)`` does (sequential
    below 8 terms, else eight running sums combined pairwise, then the tail), so the doubles match."""
    if len(cols) < 8:
        out = cols[0]
        for c in cols[1:]:
            out = out + c
        return out
    n = len(cols)
    r = list(cols[:8])
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] = r[j] + cols[i + j]
        i += 8
    out = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for c in cols[i:]:
        out = out + c
    return out


__all__ = ["ATTR_DDL", "attributes", "connected_components", "edges", "split_giants"]
