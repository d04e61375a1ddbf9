"""MMD window test on its own, as a baseline (the 2026 MMD query-traffic detector idea).

Idea: test whether a window of an account's queries comes from the same distribution as
reference traffic with the kernel maximum mean discrepancy (Gretton et al. 2012) and a
permutation p-value; flag when p < alpha.

Baseline form (ours, deliberately plain): the reference is a fixed deterministic sample
of *all* traffic in the scan window (no labels, no calibration), the window is at most
``k`` prompts per account, RBF kernel with the median-heuristic bandwidth, and a
permutation test of the (biased) MMD^2 statistic with ``permutations`` label shuffles. ``score = 0.8
* log10(1/p) / log10(1/alpha)``. Signal 7 (:mod:`distillguard.detectors.window_test`)
is the calibrated version used in the combined scan: it compares against other benign
accounts rather than i.i.d. prompts, because one person's prompts are always narrower
than everyone's.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.detectors.window_test import median_gamma, rbf
from distillguard.features.embed import DEFAULT_DIM, iter_account_samples, pooled_sample


def permutation_pvalue(x: np.ndarray, y: np.ndarray, gamma: float, permutations: int, seed: int = 0) -> tuple[float, float]:
    """(biased MMD^2, permutation p-value) of samples x vs y; vectorised over permutations."""
    z = np.vstack([x, y])
    n, m = len(x), len(y)
    kz = rbf(z, z, gamma)
    rng = np.random.default_rng(seed)
    w = np.empty((n + m, permutations + 1))
    base = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    w[:, 0] = base
    for b in range(1, permutations + 1):
        w[:, b] = base[rng.permutation(n + m)]
    stats = np.einsum("ib,ib->b", w, kz @ w)
    return float(stats[0]), float((1 + np.sum(stats[1:] >= stats[0])) / (permutations + 1))


class Mmd(Detector):
    """Plain MMD two-sample test of each account's window against all traffic."""

    name: ClassVar[str] = "mmd"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "MMD permutation test of an account's prompts vs. a sample of all traffic"
    kind = "baseline"

    def __init__(
        self,
        *,
        k: int = 64,
        min_n: int = 10,
        reference_size: int = 128,
        permutations: int = 200,
        alpha: float = 0.01,
        dim: int = DEFAULT_DIM,
    ) -> None:
        self.k = k
        self.min_n = min_n
        self.reference_size = reference_size
        self.permutations = permutations
        self.alpha = alpha
        self.dim = dim

    def detect(self, ctx: ScanContext) -> pa.Table:
        """The reference is sampled on the first call on a connection (the full window) and
        reused by the scan's replay, which narrows ``events`` to flagged accounts."""
        if getattr(self, "fitted_on_", None) != id(ctx.con):
            self.reference_ = pooled_sample(ctx.con, n=self.reference_size, dim=self.dim)
            self.fitted_on_ = id(ctx.con)
        ref = self.reference_
        if len(ref) < 10:
            return empty_signal()
        gamma = median_gamma(ref)
        rows = []
        for s in iter_account_samples(ctx.con, k=self.k, min_n=self.min_n, dim=self.dim):
            stat, p = permutation_pvalue(s.vectors, ref, gamma, self.permutations)
            closeness = rbf(s.vectors, ref, gamma).mean(axis=1)
            rows.append({
                "account_id": s.account_id,
                "score": 0.8 * math.log10(1.0 / p) / math.log10(1.0 / self.alpha),
                "value": stat,
                "detail": (f"{len(s.request_ids)} sampled of {s.total:,} prompts vs {len(ref)} reference prompts: "
                           f"MMD²={stat:.4f}, permutation p={p:.3g} ({self.permutations} shuffles; flag at "
                           f"p<={self.alpha})"),
                "examples": [s.request_ids[i] for i in np.argsort(closeness)[:3]],
            })
        return signal_table(rows) if rows else empty_signal()
