"""Signal 3, templating: how much of an account's traffic is slot-filled templates.

Why it is evidence of distillation: building a training set through an API means
generating prompts at scale, and the cheap way is to fill a few templates with many slot
values (numbers, entities, pasted inputs) and sweep them. Why it is only *evidence*: an
enterprise pipeline (a support-ticket summariser, a classifier) is templated too. So the
score says how strongly the traffic is template-driven, weighted by slot diversity (a
sweep yields new data on every call; a retry loop or a cached health-check does not) and
by how many templated prompts were seen, and decide/ must combine it with the other
signals. One narrow template family (a single template, or one that carries most of the
traffic) is what a product pipeline looks like (one summariser prompt, one classifier
prompt), so it is discounted by ``narrow_discount``; a generator that walks many
templates is not. Clusters are computed across the whole world (features.templates), so a
template run from many accounts is visible to the campaign graph as well.
"""

from __future__ import annotations

import math

import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.features.templates import world_templates


class Templating(Detector):
    name = "templating"
    version = "1"
    required_columns = ("request_id", "account_id", "prompt")
    description = "share of an account's prompts in near-duplicate template clusters (masked MinHash/LSH)"
    group = "shape"
    default_weight = 1.0

    def __init__(self, *, per_account: int = 400, min_tokens: int = 8, min_per_template: int = 3,
                 saturation: float = 30.0, threads: int = 2, narrow_discount: float = 0.5,
                 narrow_from: float = 0.5) -> None:
        self.narrow_discount = narrow_discount
        self.narrow_from = narrow_from
        self.per_account = per_account
        self.threads = threads
        self.min_tokens = min_tokens
        self.min_per_template = min_per_template
        self.saturation = saturation

    def detect(self, ctx: ScanContext) -> pa.Table:
        world = world_templates(ctx.con, per_account=self.per_account, min_tokens=self.min_tokens,
                                min_per_template=self.min_per_template, threads=self.threads,
                                cache=ctx.artefacts)
        if world.stats.num_rows == 0:
            return empty_signal()
        rows = []
        for r in world.stats.to_pylist():
            rows.append(score_row(r, self.saturation, self.narrow_discount, self.narrow_from))
        return signal_table(rows)


def score_row(r: dict[str, object], saturation: float = 30.0, narrow_discount: float = 0.5,
              narrow_from: float = 0.5, explain: bool = True) -> dict[str, object]:
    """Score one account's template statistics (a row of templates.account_stats).

    Prompts in *popular* templates (used by more than a tenth of the world's accounts) do
    not count: a frame hundreds of unrelated accounts type ("Explain step by step: …")
    is how a product's users talk, not this account's generation script.
    When one template carries most of the account's prompts (``top_share`` from
    ``narrow_from`` up to 90%), the score is cut by up to ``narrow_discount``: one narrow
    purpose is a pipeline's signature, a harvest needs many kinds of prompts.
    """
    n_sampled = int(r["n_sampled"])  # type: ignore[call-overload]
    n_total = int(r["n_total"])  # type: ignore[call-overload]
    n_all = int(r["n_templated"])  # type: ignore[call-overload]
    n_pop = int(r.get("n_templated_popular") or 0)  # type: ignore[call-overload]
    n_tpl = max(0, n_all - n_pop)
    k = int(r["n_templates"])  # type: ignore[call-overload]
    div = float(r["slot_diversity"])  # type: ignore[arg-type]
    share = n_tpl / n_sampled if n_sampled else 0.0
    confidence = 1.0 - math.exp(-n_tpl / saturation) if saturation > 0 else 1.0
    top = float(r.get("top_share") or 0.0)  # type: ignore[arg-type]
    narrow = min(1.0, max(0.0, (top - narrow_from) / max(1e-9, 0.9 - narrow_from)))
    score = share * div * confidence * (1.0 - narrow_discount * narrow)
    if not explain:
        return {"account_id": r["account_id"], "score": score, "value": share, "detail": "", "examples": []}
    pop = f"; {n_pop / n_sampled:.0%} more in popular phrasings many accounts use (not counted)" if n_pop else ""
    if n_all == 0:
        detail = f"no template reused ≥3 times in {n_sampled:,} prompts"
    else:
        of = f"{n_total:,} prompts" if n_sampled == n_total else f"a sample of {n_sampled:,} of {n_total:,} prompts"
        detail = (f"{share:.0%} of {of} match {k} template{'s' if k != 1 else ''} "
                  f"(slot diversity {div:.0%}; biggest template {float(r['top_share']):.0%} of prompts, "  # type: ignore[arg-type]
                  f"used by {int(r['accounts_sharing'])} account(s)){pop}"
                  + ("; one narrow template family (a pipeline's shape), discounted" if narrow > 0.5 else ""))  # type: ignore[call-overload]
    return {"account_id": r["account_id"], "score": score, "value": share, "detail": detail,
            "examples": list(r["examples"] or [])}  # type: ignore[call-overload]
