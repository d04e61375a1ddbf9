"""CAP-style coverage baseline.

Idea: a model-extraction attacker needs training data that covers the victim's task
space broadly (cf. coverage-based extraction detection in the model-stealing literature,
e.g. the "extraction monitor" of Kesarwani et al. 2018, which tracks how much of the
feature space a user's queries have covered). A person or product asks about a few
topics; a dataset harvester sweeps them all.

Account-level adaptation (ours): the task space is partitioned into ``cells`` k-means
cells fitted on a deterministic sample of all traffic in the window (prompts embedded
with :mod:`distillguard.features.embed`); an account's coverage is the effective number
of cells its sampled prompts occupy (exp of the entropy of its cell histogram, so one
stray prompt does not count as a whole cell) divided by ``cells``. ``score = 0.8 *
coverage / flag_coverage``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from sklearn.cluster import MiniBatchKMeans

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.features.embed import DEFAULT_DIM, iter_account_samples, pooled_sample


def effective_cells(labels: np.ndarray) -> float:
    """exp(Shannon entropy) of the label histogram: the number of equally used cells."""
    if len(labels) == 0:
        return 0.0
    counts = np.bincount(labels).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


class Cap(Detector):
    """CAP-style coverage: share of the task space one account sweeps."""

    name: ClassVar[str] = "cap"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "coverage of k-means cells of the prompt space per account"
    kind = "baseline"

    def __init__(
        self,
        *,
        k: int = 200,
        min_n: int = 10,
        cells: int = 64,
        fit_sample: int = 5000,
        flag_coverage: float = 0.35,
        dim: int = DEFAULT_DIM,
    ) -> None:
        self.k = k
        self.min_n = min_n
        self.cells = cells
        self.fit_sample = fit_sample
        self.flag_coverage = flag_coverage
        self.dim = dim

    def detect(self, ctx: ScanContext) -> pa.Table:
        """Cells are fitted on the first call on a connection (the full window) and reused by
        the scan's replay, which narrows ``events`` to flagged accounts' first events."""
        if getattr(self, "fitted_on_", None) != id(ctx.con):
            fit = pooled_sample(ctx.con, n=self.fit_sample, dim=self.dim)
            self.kmeans_ = None
            if min(self.cells, len(fit)) >= 2:
                self.kmeans_ = MiniBatchKMeans(n_clusters=min(self.cells, len(fit)), random_state=0, n_init=3,
                                               batch_size=1024).fit(fit)
            self.fitted_on_ = id(ctx.con)
        km = self.kmeans_
        if km is None:
            return empty_signal()
        cells = int(km.n_clusters)
        rows = []
        for s in iter_account_samples(ctx.con, k=self.k, min_n=self.min_n, dim=self.dim):
            labels = km.predict(s.vectors)
            eff = effective_cells(labels)
            cov = eff / cells
            distinct = len(set(labels.tolist()))
            first = {}
            for i, lab in enumerate(labels.tolist()):
                first.setdefault(lab, i)
            rows.append({
                "account_id": s.account_id,
                "score": 0.8 * cov / self.flag_coverage,
                "value": cov,
                "detail": (f"{len(s.request_ids)} sampled of {s.total:,} prompts fall in {distinct} of {cells} "
                           f"task-space cells ({eff:.1f} effective, coverage {cov:.0%}; flag at "
                           f"{self.flag_coverage:.0%})"),
                "examples": [s.request_ids[i] for i in list(first.values())[:3]],
            })
        return signal_table(rows) if rows else empty_signal()
