"""Evaluate findings against labels: quality at the score, at the verdict, and damage."""

from distillguard.evaluate.metrics import evaluate, harvest_metrics, join, score_metrics

__all__ = ["evaluate", "harvest_metrics", "join", "score_metrics"]
