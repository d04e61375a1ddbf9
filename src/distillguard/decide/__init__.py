"""Deciding: calibrated combination of signal scores, verdicts, campaign inheritance.

Scoring (detectors) and deciding (here) are separate: detectors measure, decide/ turns
measurements into ``score``/``verdict``/``reasons`` with documented, configurable
weights (see docs/detection.md).
"""

from distillguard.decide.scoring import (
    AccountScore, combine, default_weights, evidence_to_score, groups, inherit, score_to_evidence, verdict, weight_of,
)

__all__ = ["AccountScore", "default_weights", "groups", "combine", "evidence_to_score", "inherit", "score_to_evidence",
           "verdict", "weight_of"]
