"""Signal 5 — coverage sweep: broad, even, never-repeating task coverage.

A dataset generator walks through many task families evenly (code, maths, writing,
QA, extraction, translation ...) and never returns to a prompt; a person or a product
stays in a few families and comes back to threads. Breadth is measured as the effective
number of task families, exp(entropy) over features/text.py's families, with novelty
(share of distinct prompts) and a discount for conversational follow-ups. It needs a
volume of *distinct* prompts: a person's or an agency's few hundred varied questions a
month are not a sweep, a training set needs thousands. So the score is breadth × the
evidence of ``distinct_half`` distinct prompts, plus a harvest-scale term that grows with
thousands of distinct, broad, self-contained prompts (``scale_half``): diversity × volume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.features.account import clip01, confidence, pct, sigmoid


class CoverageDetector(Detector):
    name: ClassVar[str] = "coverage"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id", "prompt")
    description: ClassVar[str] = "Broad, even task-family coverage with novelty, like a dataset sweep."
    group: ClassVar[str] = "content"
    default_weight: ClassVar[float] = 0.9
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ('n', 'fam_entropy', 'n_families', 'top_family', 'top_family_share', 'distinct_prompts', 'followup_share', 'ex_any')

    def __init__(self, *, families_mid: float = 4.0, steepness: float = 2.0, novelty_floor: float = 0.7,
                 followup_discount: float = 0.6, distinct_half: float = 150.0, scale_half: float = 2000.0,
                 w_scale: float = 0.5) -> None:
        self.families_mid = families_mid
        self.steepness = steepness
        self.novelty_floor = novelty_floor
        self.followup_discount = followup_discount
        self.distinct_half = distinct_half
        self.scale_half = scale_half
        self.w_scale = w_scale

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        n = int(r["n"])
        eff = math.exp(max(0.0, float(r["fam_entropy"] or 0.0)))
        novelty = int(r["distinct_prompts"] or 0) / n if n else 0.0
        fu = float(r["followup_share"] or 0.0)
        s_breadth = sigmoid(self.steepness * (eff - self.families_mid))
        s_novel = clip01((novelty - self.novelty_floor) / (1.0 - self.novelty_floor + 1e-9))
        damp = 1.0 - self.followup_discount * clip01(fu / 0.3)
        distinct = int(r["distinct_prompts"] or 0)
        base = confidence(distinct, self.distinct_half) * s_breadth * (0.5 + 0.5 * s_novel) * damp
        scale = s_breadth * damp * confidence(distinct, self.scale_half)
        score = base + (1.0 - base) * self.w_scale * scale
        detail = (f"{n:,} requests spread over {eff:.1f} effective task families ({r['n_families']} seen; "
                  f"largest '{r['top_family']}' {pct(float(r['top_family_share'] or 0))}); "
                  f"{pct(novelty)} distinct prompts; {pct(fu)} follow-ups") if explain else ""
        return {"account_id": r["account_id"], "score": score, "value": eff, "detail": detail,
                     "examples": r["ex_any"] or []}
