"""Signal 7: a benign-calibrated two-sample test of each account's prompts.

Why: to distil a model you must ask it what you want the student to learn (a benchmark,
an instruction set, a task sweep), not what your customers happen to need, so a
harvesting account's prompt distribution differs from ordinary traffic. We measure how
far a window of an account's prompts lies from benign reference traffic with the kernel
maximum mean discrepancy (MMD, Gretton et al. 2012; the 2026 MMD query-traffic detector
applies it to API windows).

Reference without labels: a provider does not know which accounts are benign, so the
reference is the bulk of ordinary traffic, i.e. the low-volume accounts (at most the
``reference_quantile`` of request counts) that hold real conversations (a follow-up in
some conversation). Or the provider passes ``reference`` = a file of prompts it trusts.

Calibration: one person's prompts are narrower than the whole population's, so an
i.i.d. permutation null would flag every real user. Instead the null is the MMD of
*other reference accounts* against the same reference pool (accounts split by hash into
pool builders and null calibrators, so nobody is tested against itself). The p-value is
the empirical exceedance over those accounts, with an exponential tail fitted above the
null median beyond the largest (peaks over threshold), so it can go below 1/N.

Bounded cost: at most ``k`` prompts per account (deterministic hash sample), shrunk so
that no more than ``max_prompts`` prompts are embedded in one scan, a pool of
``pool_size`` prompts, ``null_accounts`` calibration accounts; one kernel row block per
account, streamed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.errors import InputError
from distillguard.features.embed import DEFAULT_DIM, embed_texts, iter_account_samples, texts_of

_POOL = "_dg_wt_pool_accounts"
_NULL = "_dg_wt_null_accounts"


# --- kernel two-sample statistics (shared with baselines/mmd.py) ----------------------
def median_gamma(x: np.ndarray, max_rows: int = 500) -> float:
    """RBF gamma = 1 / (2 * median squared distance), the usual median heuristic."""
    x = x[:max_rows]
    d2 = np.maximum(2.0 - 2.0 * (x @ x.T), 0.0)  # unit vectors: |a-b|^2 = 2 - 2 a.b
    vals = d2[np.triu_indices(len(x), 1)]
    vals = vals[vals > 1e-4]  # ignore duplicates and float32 round-off
    med = float(np.median(vals)) if len(vals) else 1.0
    return 1.0 / (2.0 * med)


def rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """RBF kernel between unit-length rows."""
    return np.exp(-gamma * np.maximum(2.0 - 2.0 * (x @ y.T), 0.0))


def mmd2_unbiased(kxx: np.ndarray, kyy_offdiag_mean: float, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 given Kxx (n x n), mean off-diagonal Kyy and Kxy (n x m)."""
    n = kxx.shape[0]
    kxx_term = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    return float(kxx_term + kyy_offdiag_mean - 2.0 * kxy.mean())


@dataclass(frozen=True)
class Pool:
    """A fixed reference sample and its precomputed kernel constants."""

    vectors: np.ndarray
    gamma: float
    kyy_mean: float

    @classmethod
    def of(cls, vectors: np.ndarray) -> "Pool":
        gamma = median_gamma(vectors)
        kyy = rbf(vectors, vectors, gamma)
        m = len(vectors)
        return cls(vectors, gamma, float((kyy.sum() - np.trace(kyy)) / (m * (m - 1))))

    def mmd2(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """MMD^2 of window x against the pool, and each row's mean kernel to the pool."""
        kxy = rbf(x, self.vectors, self.gamma)
        return mmd2_unbiased(rbf(x, x, self.gamma), self.kyy_mean, kxy), kxy.mean(axis=1)


def tail_pvalue(x: float, null: np.ndarray) -> float:
    """P(null >= x): empirical inside the null's range, an exponential tail beyond it.

    The tail is fitted to the excesses over the null median (mean excess = scale), a
    conservative peaks-over-threshold fit: it decays more slowly than one fitted to the
    few largest values, so a small calibration set cannot produce absurd p-values.
    """
    n = len(null)
    exceed = int(np.sum(null >= x))
    if exceed > 0:
        return (exceed + 1) / (n + 1)
    med = float(np.median(null))
    scale = max(float(np.mean(null[null > med] - med)) if np.any(null > med) else 0.0, 1e-9)
    return min(1.0 / (n + 1), 0.5 * math.exp(-(x - med) / scale))


def log_score(p: float, flag_log10p: float) -> float:
    """p-value -> score in [0, 1]; p = 10**-flag_log10p maps to 0.8 (the default flag)."""
    return min(1.0, max(0.0, 0.8 * -math.log10(max(p, 1e-300)) / flag_log10p))


def load_reference(path: str | Path, limit: int, dim: int = DEFAULT_DIM) -> np.ndarray:
    """Prompt vectors from a provider-supplied reference file (prompt column, or corpus turns)."""
    p = Path(path)
    if not p.exists():
        raise InputError("window_test reference file not found", source=str(p))
    con = duckdb.connect()
    name = p.name.lower()
    src = "read_parquet" if name.endswith(".parquet") else (
        "read_csv_auto" if name.endswith(".csv") else "read_json_auto")
    rel = con.sql(f"select * from {src}('{p.as_posix()}')")
    if "prompt" in rel.columns:
        expr = "prompt"
    elif "turns" in rel.columns:
        expr = "turns[1]"
    else:
        raise InputError("reference file needs a 'prompt' or 'turns' column", source=str(p))
    tab = con.sql(f"select {expr} as prompt from {src}('{p.as_posix()}') "
                  f"order by hash({expr}) limit {int(limit)}").to_arrow_table()
    con.close()
    if tab.num_rows < 20:
        raise InputError(f"reference file holds only {tab.num_rows} prompts (need >= 20)", source=str(p))
    return embed_texts(texts_of(tab), dim=dim)


class WindowTest(Detector):
    """Benign-calibrated MMD window test (signal 7)."""
    optional_columns: ClassVar[tuple[str, ...]] = ("conversation_id",)

    name: ClassVar[str] = "window_test"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "prompt distribution far from benign reference traffic (MMD, benign-calibrated)"
    group = "shape"
    default_weight = 0.4

    def __init__(
        self,
        *,
        k: int = 64,
        min_n: int = 8,
        pool_size: int = 800,
        per_account_pool: int = 8,
        null_accounts: int = 400,
        reference_quantile: float = 0.5,
        require_conversation: bool = True,
        reference: str | None = None,
        flag_log10p: float = 4.0,
        max_prompts: int = 300_000,
        dim: int = DEFAULT_DIM,
    ) -> None:
        self.k = k
        self.max_prompts = max_prompts
        self.min_n = min_n
        self.pool_size = pool_size
        self.per_account_pool = per_account_pool
        self.null_accounts = null_accounts
        self.reference_quantile = reference_quantile
        self.require_conversation = require_conversation
        self.reference = reference
        self.flag_log10p = flag_log10p
        self.dim = dim

    # --- reference selection ---------------------------------------------------------
    def _reference_accounts(self, con: duckdb.DuckDBPyConnection) -> str:
        """Create temp tables of pool and null accounts; return how they were chosen."""
        has_conv = "conversation_id" in con.sql("select * from events limit 0").columns
        conv = ("count(conversation_id) - count(distinct conversation_id)" if has_conv else "0")
        con.execute(f"""
            create or replace temp table _dg_wt_stats as
            select account_id, count(*) as n, {conv} as followups from events group by account_id
        """)
        cut = con.execute(f"select quantile_cont(n, {float(self.reference_quantile)}) from _dg_wt_stats").fetchall()[0]
        cutoff = float(cut[0]) if cut and cut[0] is not None else 0.0
        how = f"accounts with <= {cutoff:,.0f} requests"
        cond = f"n <= {cutoff} and n >= {int(self.min_n)}"
        if self.require_conversation:
            nconv = con.execute(f"select count(*) from _dg_wt_stats where {cond} and followups > 0").fetchall()[0]
            if nconv and nconv[0] >= 40:
                cond += " and followups > 0"
                how += " that hold multi-turn conversations"
        con.execute(f"""
            create or replace temp table _dg_wt_ref as
            select account_id, hash(account_id) % 2 = 0 as is_pool from _dg_wt_stats where {cond}
        """)
        con.execute(f"create or replace temp table {_POOL} as select account_id from _dg_wt_ref where is_pool")
        con.execute(f"""create or replace temp table {_NULL} as select account_id from _dg_wt_ref
                        where not is_pool order by hash(account_id) limit {int(self.null_accounts)}""")
        return how

    def _pool(self, con: duckdb.DuckDBPyConnection) -> np.ndarray:
        if self.reference:
            return load_reference(self.reference, self.pool_size, self.dim)
        tab = con.sql(f"""
            with s as (
                select prompt, request_id,
                       row_number() over (partition by account_id order by hash(request_id)) as rn
                from events where account_id in (select account_id from {_POOL})
            )
            select substr(coalesce(prompt, ''), 1, 1000) as prompt from s
            where rn <= {int(self.per_account_pool)}
            order by hash(request_id), request_id limit {int(self.pool_size)}
        """).to_arrow_table()
        return embed_texts(texts_of(tab), dim=self.dim)

    def fit(self, con: duckdb.DuckDBPyConnection) -> "WindowTest":
        """Learn the reference pool and the null from the current (full-window) events view."""
        how = self._reference_accounts(con)
        try:
            pool_vecs = self._pool(con)
            self.pool_: Pool | None = Pool.of(pool_vecs) if len(pool_vecs) >= 20 else None
            self.null_ = np.zeros(0)
            if self.pool_ is not None:
                self.null_ = np.array([
                    self.pool_.mmd2(s.vectors)[0]
                    for s in iter_account_samples(con, k=self.k, min_n=self.min_n, dim=self.dim,
                                                  where=f"where account_id in (select account_id from {_NULL})")
                ])
        finally:
            for t in ("_dg_wt_stats", "_dg_wt_ref", _POOL, _NULL):
                con.execute(f"drop table if exists {t}")
        self.reference_desc_ = "the supplied reference file" if self.reference else how
        self.fitted_on_ = id(con)
        return self

    def _k_for(self, con: duckdb.DuckDBPyConnection) -> int:
        """Window size: ``k``, shrunk so at most ``max_prompts`` prompts are embedded in all."""
        row = con.execute(f"select count(*) from (select 1 from events group by account_id "
                          f"having count(*) >= {int(self.min_n)})").fetchall()[0]
        eligible = int(row[0]) if row else 0
        return max(self.min_n, min(self.k, self.max_prompts // max(eligible, 1)))

    def detect(self, ctx: ScanContext) -> pa.Table:
        """Score every account with >= min_n requests.

        The reference is learned on the first call on a connection and reused by later
        calls on it: the scan's replay narrows ``events`` to flagged accounts' first
        events, and those must be compared with the same benign reference, not each other.
        """
        con = ctx.con
        if getattr(self, "fitted_on_", None) != id(con):
            self.fit(con)
        pool, null = self.pool_, self.null_
        if pool is None or len(null) < 10:
            return empty_signal()
        med, top = float(np.median(null)), float(np.max(null))
        rows = []
        for s in iter_account_samples(con, k=self._k_for(con), min_n=self.min_n, dim=self.dim):
            stat, closeness = pool.mmd2(s.vectors)
            p = tail_pvalue(stat, null)
            far = np.argsort(closeness)[:3]
            rows.append({
                "account_id": s.account_id,
                "score": log_score(p, self.flag_log10p),
                "value": stat,
                "detail": (f"{len(s.request_ids)} sampled of {s.total:,} prompts differ from benign reference "
                           f"traffic ({self.reference_desc_}): MMD²={stat:.4f} vs {len(null)} reference accounts "
                           f"(median {med:.4f}, max {top:.4f}), p≈{p:.1e}"),
                "examples": [s.request_ids[i] for i in far],
            })
        return signal_table(rows) if rows else empty_signal()
