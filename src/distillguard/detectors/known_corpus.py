"""Signal 6, known-corpus match: share of an account's prompts found in indexed datasets.

Why: a distiller needs many good, diverse prompts, and public benchmarks and instruction
sets are the cheapest supply. Matching is on masked, normalised text (exact) or on
MinHash/LSH sketches (at least two shared bands), so numbers swapped or a few words
reworded still match. Why it is only one signal: a provider's index never covers every
attacker's source, and a researcher evaluating on GSM8K once sends benchmark prompts
too; so the score grows with both the matched share and the number matched, and decide/
weighs it with the rest. Without ``params.index`` the detector is silent (no rows).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyarrow as pa

from distillguard.corpus.index import CorpusIndex, load_index
from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table
from distillguard.features.templates import PromptSample, world_templates


class KnownCorpus(Detector):
    name = "known_corpus"
    version = "1"
    required_columns = ("request_id", "account_id", "prompt")
    description = "share of an account's prompts that match an indexed public prompt corpus"
    group = "content"
    default_weight = 0.9

    def __init__(self, *, index: str | None = None, per_account: int = 400, min_bands: int = 2,
                 min_tokens: int = 4, saturation: float = 20.0) -> None:
        self.index = index
        self.per_account = per_account
        self.min_bands = min_bands
        self.min_tokens = min_tokens
        self.saturation = saturation

    def detect(self, ctx: ScanContext) -> pa.Table:
        if not self.index:
            return empty_signal()
        key = f"known_corpus_index:{self.index}"
        idx = ctx.artefacts.get(key)
        if idx is None:
            idx = ctx.artefacts[key] = load_index(self.index)
        # Reuse the template stage's sample and sketches (same per-account cap by default).
        world = world_templates(ctx.con, per_account=self.per_account, cache=ctx.artefacts)
        return score_matches(world.sample, idx, min_bands=self.min_bands, min_tokens=self.min_tokens,
                             saturation=self.saturation)


def score_matches(sample: PromptSample, idx: CorpusIndex, *, min_bands: int = 2, min_tokens: int = 4,
                  saturation: float = 20.0) -> pa.Table:
    """Per-account match share → score (share × confidence in the number of matches)."""
    if sample.size == 0:
        return empty_signal()
    m = idx.match(sample.sketch, min_bands=min_bands)
    hit = (m.source >= 0) & (sample.sketch.n_tokens >= min_tokens)
    n_acc = len(sample.accounts)
    n_sampled = np.bincount(sample.account, minlength=n_acc)
    n_hit = np.bincount(sample.account[hit], minlength=n_acc)
    by_acc_src: dict[int, Counter[int]] = {}
    examples: dict[int, list[str]] = {}
    ex_rows: list[int] = []
    for i in np.flatnonzero(hit).tolist():
        a = int(sample.account[i])
        by_acc_src.setdefault(a, Counter())[int(m.source[i])] += 1
        if len(examples.setdefault(a, [])) < 3:
            examples[a].append("")
            ex_rows.append(i)
    for i, rid in zip(ex_rows, sample.request_ids(ex_rows)):
        ex = examples[int(sample.account[i])]
        ex[ex.index("")] = rid
    rows = []
    for a, acc in enumerate(sample.accounts):
        ns, nh, total = int(n_sampled[a]), int(n_hit[a]), int(sample.totals[a])
        if ns == 0:
            continue
        share = nh / ns
        score = share * (1.0 - math.exp(-nh / saturation))
        if nh:
            top = ", ".join(f"{idx.sources[s]}: {c:,}" for s, c in by_acc_src[a].most_common(3))
            of = f"{total:,} prompts" if ns == total else f"a sample of {ns:,} of {total:,} prompts"
            detail = f"{share:.0%} of {of} match known corpora ({top})"
        else:
            detail = f"none of {ns:,} sampled prompts match the {len(idx):,}-prompt known-corpus index"
        rows.append({"account_id": acc, "score": score, "value": share, "detail": detail,
                     "examples": examples.get(a, [])})
    return signal_table(rows)
