"""Signal 10, template frames: one account filling the same few prompt frames again and again.

Why: building a training set through an API means generating prompts, and the cheap way is
to fill a few templates with many slot values. The world-wide ``templating`` signal finds
template clusters across all accounts with MinHash/LSH, which needs the whole window; this
is its per-account, streaming counterpart: the *frame* of a prompt is its first eight words
after masking slots (numbers, names, quoted inputs; features.text.frame), and a frame the
account reuses at least three times is one of its templates. The score is the templating
signal's own transform (detectors/templating.score_row): templated share × slot diversity
(distinct prompts per request: a sweep yields new data each call, a retry loop does not) ×
evidence, halved when one frame carries most of the traffic (one narrow purpose is a
product pipeline's shape), and counted fully only from ``breadth_full`` (5) frames: without
the world view of which frames a product's users share, a handful of frames is a pipeline's
or a power user's habit, and a harvest walks many. It counts in the ``shape`` group
with templating and is superseded by it: where the batch scan has the world view
(templating scored the account), frames adds nothing, so the two views of one fact never
stack; live, where no world view exists, frames is the templating evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.detectors.templating import score_row
from distillguard.features.account import clip01, pct


class Frames(Detector):
    name: ClassVar[str] = "frames"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Share of an account's prompts that refill its own masked prompt frames (templates), per account."
    group: ClassVar[str] = "shape"
    default_weight: ClassVar[float] = 0.8
    live: ClassVar[bool] = True
    superseded_by: ClassVar[str | None] = "templating"
    features: ClassVar[tuple[str, ...]] = ("n", "distinct_prompts", "n_framed", "n_frames", "top_frame", "ex_any")

    def __init__(self, *, saturation: float = 30.0, narrow_discount: float = 0.5, narrow_from: float = 0.5,
                 breadth_full: int = 5) -> None:
        self.breadth_full = breadth_full
        self.saturation = saturation
        self.narrow_discount = narrow_discount
        self.narrow_from = narrow_from

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        n = int(r["n"])
        framed, k = int(r["n_framed"] or 0), int(r["n_frames"] or 0)
        top = float(r["top_frame"] or 0) / n if n else 0.0
        div = min(1.0, int(r["distinct_prompts"] or 0) / n) if n else 0.0
        out = score_row({"account_id": r["account_id"], "n_sampled": n, "n_total": n, "n_templated": framed,
                         "n_templated_popular": 0, "n_templates": k, "slot_diversity": div, "top_share": top,
                         "accounts_sharing": 1, "examples": r["ex_any"] or []},
                        self.saturation, self.narrow_discount, self.narrow_from, explain)
        # Seen from one account alone (no world view of which frames a product's users share), a
        # few frames are a pipeline's or a power user's habit; a generator walks many.
        out["score"] = float(out["score"]) * clip01((k - 1) / max(1, self.breadth_full - 1))
        out["detail"] = "" if not explain else (f"{pct(framed / n if n else 0.0)} of {n:,} prompts refill {k} of its own prompt frame(s) "
                         f"(each reused ≥ 3 times; largest {pct(top)} of prompts; {pct(div)} distinct prompts)"
                         if framed else f"no prompt frame reused ≥ 3 times in {n:,} prompts")
        return out
