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
from distillguard.features.account import clip01, confidence, pct

ARTEFACT = "content_pool"
"""ctx.artefacts key: the table of (account_id, n, pool_hits, pool_seen) the scan's second pass builds."""


class ContentPool(Detector):
    name: ClassVar[str] = "content_pool"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Prompts that accounts already flagged for distillation sent too (flagged-content pool)."
    group: ClassVar[str] = "content"
    default_weight: ClassVar[float] = 0.8
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("n", "pool_hits", "pool_seen", "ex_any")

    def __init__(self, *, share_full: float = 0.3, hits_half: float = 10.0) -> None:
        self.share_full = share_full
        self.hits_half = hits_half

    def detect(self, ctx: ScanContext) -> pa.Table:
        table = ctx.artefacts.get(ARTEFACT)
        if not table:  # first pass: nothing is flagged yet, so there is no pool
            return empty_signal()
        rows = ctx.con.sql(f"SELECT * FROM {table} WHERE pool_hits > 0 ORDER BY account_id").to_arrow_table()
        return signal_table([self.score_features(r) for r in rows.to_pylist()])

    def score_features(self, r: Mapping[str, Any]) -> dict[str, Any]:
        hits, seen = int(r.get("pool_hits") or 0), int(r.get("pool_seen") or 0)
        share = hits / seen if seen else 0.0
        score = confidence(hits, self.hits_half) * clip01(share / self.share_full)
        return {"account_id": r["account_id"], "score": score, "value": share,
                "detail": (f"{hits:,} of {seen:,} prompts ({pct(share)}) were also sent by accounts flagged for "
                           "distillation (hashed flagged-content pool; no text kept)") if hits else
                          "no prompt from the flagged-content pool",
                "examples": r.get("ex_any") or []}
