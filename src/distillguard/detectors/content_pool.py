"""Signal 9, content pool: the account sends prompts that accounts flagged for distillation sent too.

Why: a campaign harvests one dataset, and the dataset is the infrastructure it cannot
rotate: cards, addresses and clients are cheap to change, the prompts it needs are not.
When one identity is flagged, its prompts go into a living index of flagged content (64-bit
hashes of the normalised text, features.text.pool_text; no text is kept), and another account
re-sending items of that pool gains evidence even when everything else about it looks human:
a low-and-slow sibling, a fresh identity after a ban. Short prompts ("hi", "thanks") are
everyone's and never enter the pool. Why it is only evidence: public benchmark items are
asked by researchers too, so the score grows with both the share and the number of pool hits,
and decide/ weighs it in the content group.

Live, the engine checks each prompt against the pool at the time it is sent
(engine/live.py). In the batch scan the pool is the prompts of the accounts the first pass
flagged on their own evidence (scan/run.py), a whole-window view of the same measurement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.detectors.reasoning import CATCH_ALL_FAMILIES
from distillguard.features.account import clip01, confidence, pct

ARTEFACT = "content_pool"
"""ctx.artefacts key: the table of (account_id, n, pool_hits, pool_seen) the scan's second pass builds."""


class ContentPool(Detector):
    name: ClassVar[str] = "content_pool"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Prompts that accounts already flagged for distillation sent too (flagged-content pool)."
    group: ClassVar[str] = "content"
    default_weight: ClassVar[float] = 0.6
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("n", "pool_hits", "pool_seen", "top_family", "top_family_share",
                                           "first_ts", "last_ts", "ex_any")

    def __init__(self, *, share_full: float = 0.3, hits_half: float = 10.0, narrow_discount: float = 0.8,
                 narrow_from: float = 0.6, persist_min_days: float = 1.0, persist_ramp_days: float = 2.0) -> None:
        self.persist_min_days = persist_min_days
        self.persist_ramp_days = persist_ramp_days
        self.share_full = share_full
        self.hits_half = hits_half
        self.narrow_discount = narrow_discount
        self.narrow_from = narrow_from

    def detect(self, ctx: ScanContext) -> pa.Table:
        table = ctx.artefacts.get(ARTEFACT)
        if not table:  # first pass: nothing is flagged yet, so there is no pool
            return empty_signal()
        rows = ctx.con.sql(f"SELECT * FROM {table} WHERE pool_hits > 0 ORDER BY account_id").to_arrow_table()
        return signal_table([self.score_features(r) for r in rows.to_pylist()])

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        hits, seen = int(r.get("pool_hits") or 0), int(r.get("pool_seen") or 0)
        share = hits / seen if seen else 0.0
        score = confidence(hits, self.hits_half) * clip01(share / self.share_full)
        # A researcher running one public benchmark re-sends the items a harvester of that
        # benchmark sent: one narrow kind of task is an evaluation (or a product), a dataset
        # harvest is broad. Discounted as the reasoning signal discounts a narrow run.
        top = float(r.get("top_family_share") or 0.0)
        narrow = 0.0 if r.get("top_family") in CATCH_ALL_FAMILIES else \
            clip01((top - self.narrow_from) / (1.0 - self.narrow_from + 1e-9))
        score *= 1.0 - self.narrow_discount * narrow
        # Harvesting is persistent, an evaluation is a bounded burst: pool evidence counts from
        # ``persist_min_days`` of activity and fully ``persist_ramp_days`` later.
        first, last = r.get("first_ts"), r.get("last_ts")
        span = (last - first).total_seconds() / 86400.0 if first is not None and last is not None else 0.0
        score *= clip01((span - self.persist_min_days) / max(self.persist_ramp_days, 1e-9))
        return {"account_id": r["account_id"], "score": score, "value": share,
                "detail": "" if not explain else (f"{hits:,} of {seen:,} prompts ({pct(share)}) were also sent by accounts flagged for "
                           "distillation (hashed flagged-content pool; no text kept)"
                           + (f"; {pct(top)} are '{r.get('top_family')}' tasks (narrow: an evaluation or a "
                              "product more than a harvest)" if narrow > 0 else "")) if hits else
                          "no prompt from the flagged-content pool",
                "examples": r.get("ex_any") or []}
