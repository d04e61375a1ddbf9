"""PRADA baseline (Juuti et al., "PRADA: Protecting against DNN Model Stealing Attacks", 2019).

Idea from the paper: benign queries to a model are natural samples, so the distances
between a client's successive queries and its earlier ones are roughly normally
distributed; an extraction attack's synthetic or systematically chosen queries are not.
For each account's query stream PRADA keeps a growing set G; each new query's minimum
distance to G is added to the distance set D, and the query joins G when that distance
exceeds mean(D) - std(D). The Shapiro-Wilk statistic W of D is the test: the account is
flagged when W < delta.

Account-level adaptation (ours): queries are prompts embedded with
:mod:`distillguard.features.embed` (L2 distance of unit vectors), a deterministic sample
of at most ``k`` prompts per account in time order stands for the stream, and
``score = 0.8 * (1 - W) / (1 - delta)`` clipped to [0, 1], so W = delta scores 0.8
(the default flag threshold).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pyarrow as pa
from scipy.stats import shapiro

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.features.embed import DEFAULT_DIM, iter_account_samples


def prada_distances(vectors: np.ndarray) -> np.ndarray:
    """PRADA's distance set D for a query stream (rows in arrival order)."""
    if len(vectors) < 2:
        return np.zeros(0)
    growing = [0]
    dists: list[float] = []
    for i in range(1, len(vectors)):
        g = vectors[growing]
        d2 = np.maximum(2.0 - 2.0 * (g @ vectors[i]), 0.0)
        dmin = float(np.sqrt(d2.min()))
        dists.append(dmin)
        arr = np.asarray(dists)
        if dmin > arr.mean() - arr.std():
            growing.append(i)
    return np.asarray(dists)


def shapiro_w(d: np.ndarray) -> float:
    """Shapiro-Wilk W of the distances; 1.0 (no evidence) when degenerate."""
    if len(d) < 3 or float(np.ptp(d)) < 1e-9:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(shapiro(d).statistic)


class Prada(Detector):
    """PRADA: non-normal distances between an account's successive queries."""

    name: ClassVar[str] = "prada"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "PRADA (Juuti et al. 2019): Shapiro-Wilk W of min query distances"
    kind = "baseline"

    def __init__(self, *, k: int = 200, min_n: int = 20, delta: float = 0.9, dim: int = DEFAULT_DIM) -> None:
        self.k = k
        self.min_n = min_n
        self.delta = delta
        self.dim = dim

    def detect(self, ctx: ScanContext) -> pa.Table:
        rows = []
        for s in iter_account_samples(ctx.con, k=self.k, min_n=self.min_n, dim=self.dim):
            d = prada_distances(s.vectors)
            w = shapiro_w(d)
            score = 0.8 * (1.0 - w) / max(1.0 - self.delta, 1e-9)
            closest = np.argsort(d)[:3] + 1
            rows.append({
                "account_id": s.account_id,
                "score": score,
                "value": w,
                "detail": (f"Shapiro-Wilk W={w:.3f} over {len(d)} min-distances of {len(s.request_ids)} sampled "
                           f"of {s.total:,} prompts (flag below {self.delta}); median distance {np.median(d):.2f}"),
                "examples": [s.request_ids[i] for i in closest],
            })
        return signal_table(rows) if rows else empty_signal()
