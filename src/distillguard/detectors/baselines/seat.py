"""SEAT baseline (Zhang et al., "SEAT: Similarity Encoder by Adversarial Training for
Detecting Model Extraction Attack Queries", 2021).

Idea from the paper: extraction queries come in clusters of near-identical inputs (an
attacker perturbs or templates seeds to cover the decision surface), so an account
whose queries contain many pairs closer than a threshold under a similarity encoder is
flagged once the count of such pairs is high.

Account-level adaptation (ours): the similarity encoder is our fixed hashed n-gram
embedding with digits masked (:mod:`distillguard.features.embed`), not an adversarially
trained network; we count pairs with cosine >= ``sim_threshold`` among a deterministic
sample of at most ``k`` prompts and scale that fraction to the account's whole traffic
(estimated similar pairs = fraction x C(total, 2)). ``score = 0.8 * log1p(pairs) /
log1p(flag_pairs)``, so reaching ``flag_pairs`` scores 0.8.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.features.embed import DEFAULT_DIM, iter_account_samples


def similar_pair_fraction(vectors: np.ndarray, threshold: float) -> tuple[float, tuple[int, int] | None]:
    """Fraction of distinct pairs with cosine >= threshold, and the most similar pair."""
    n = len(vectors)
    if n < 2:
        return 0.0, None
    sims = vectors @ vectors.T
    iu = np.triu_indices(n, 1)
    vals = sims[iu]
    best = int(np.argmax(vals))
    return float(np.mean(vals >= threshold)), (int(iu[0][best]), int(iu[1][best]))


class Seat(Detector):
    """SEAT: many pairs of near-identical queries from one account."""

    name: ClassVar[str] = "seat"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "SEAT (Zhang et al. 2021): count of similar query pairs per account"
    kind = "baseline"

    def __init__(
        self,
        *,
        k: int = 200,
        min_n: int = 10,
        sim_threshold: float = 0.8,
        flag_pairs: float = 5000.0,
        dim: int = DEFAULT_DIM,
    ) -> None:
        self.k = k
        self.min_n = min_n
        self.sim_threshold = sim_threshold
        self.flag_pairs = flag_pairs
        self.dim = dim

    def detect(self, ctx: ScanContext) -> pa.Table:
        rows = []
        for s in iter_account_samples(ctx.con, k=self.k, min_n=self.min_n, dim=self.dim):
            frac, pair = similar_pair_fraction(s.vectors, self.sim_threshold)
            pairs = frac * s.total * (s.total - 1) / 2.0
            score = 0.8 * math.log1p(pairs) / math.log1p(self.flag_pairs)
            rows.append({
                "account_id": s.account_id,
                "score": score,
                "value": pairs,
                "detail": (f"{frac:.1%} of pairs among {len(s.request_ids)} sampled of {s.total:,} prompts have "
                           f"cosine >= {self.sim_threshold}: about {pairs:,.0f} similar pairs "
                           f"(flag at {self.flag_pairs:,.0f})"),
                "examples": [s.request_ids[i] for i in pair] if pair else [],
            })
        return signal_table(rows) if rows else empty_signal()
