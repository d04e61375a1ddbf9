"""Leiden communities per connected component, on the executors.

CPM (the Constant Potts Model the DuckDB scan uses) is local: a community never spans two
components, and neither does a merge by combination (it follows edges). So each component
is clustered on its own by the very function the DuckDB scan calls,
:func:`distillguard.campaigns.cluster.communities` (Leiden + merge by combination +
``min_size``), inside ``applyInArrow`` grouped by component. Node order inside a
component follows account ids, as in the whole-graph run; Leiden's random sequence differs
from a whole-graph run, so the partition can differ slightly where CPM has near-ties
(the equivalence test bounds it: campaigns match by member Jaccard ≥ 0.95).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from distillguard.campaigns.cluster import communities
from distillguard.campaigns.graph import AccountGraph

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

OUT_DDL = "account_id string, community string"


def _cluster(kinds: list[str], resolution: float, seed: int, min_size: int) -> Any:
    def run(tab: pa.Table) -> pa.Table:
        src = np.asarray(tab.column("src").to_pylist(), dtype=object)
        dst = np.asarray(tab.column("dst").to_pylist(), dtype=object)
        accounts = sorted(set(src.tolist()) | set(dst.tolist()))
        pos = {a: i for i, a in enumerate(accounts)}
        s = np.array([pos[a] for a in src], dtype=np.int64)
        d = np.array([pos[a] for a in dst], dtype=np.int64)
        order = np.lexsort((d, s))  # build_graph's edge order: by (src, dst) index
        s, d = s[order], d[order]
        kw = np.stack([_f64(tab, f"w_{k}")[order] for k in kinds], axis=1) \
            if kinds else np.zeros((len(s), 0))
        empty = pa.table({"account_idx": pa.array([], pa.int64())})
        g = AccountGraph(accounts, s, d, _f64(tab, "weight")[order], _f64(tab, "density")[order], empty,
                         list(kinds), kw)
        groups = communities(g, resolution=resolution, seed=seed, min_size=min_size)
        comp = str(tab.column("component")[0].as_py())
        acc, lab = [], []
        for gi, grp in enumerate(groups):
            for i in grp.tolist():
                acc.append(accounts[i])
                lab.append(f"{comp}:{gi}")
        return pa.table({"account_id": pa.array(acc, pa.string()), "community": pa.array(lab, pa.string())})
    return run


def _f64(tab: pa.Table, col: str) -> np.ndarray:
    return tab.column(col).to_numpy().astype(np.float64)


def leiden_by_component(edges: "DataFrame", comp: "DataFrame", kinds: list[str], *, resolution: float,
                        seed: int, min_size: int) -> pa.Table:
    """(account_id, community) for accounts in communities of at least ``min_size``.

    ``edges`` (src, dst account ids, weight, density, w_<kind>) and ``comp`` (account_id,
    component) come from :mod:`distillguard.spark.graph`.
    """
    from pyspark.sql import functions as F

    e = edges.join(comp.select(F.col("account_id").alias("src"), "component"), "src")
    return (e.groupBy("component")
            .applyInArrow(_cluster(kinds, resolution, seed, min_size), OUT_DDL)
            .toArrow())


__all__ = ["leiden_by_component"]
