"""Responses attached to simulated events: built-in (no download) and real (../shared/corpus/responses)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.errors import InputError
from distillguard.simulate.responses import (attach_responses, attach_world_responses, builtin_pairs,
                                             load_corpus_responses)
from distillguard.simulate.world import generate, write_world


def _events(prompts: list[str], rtok: list[int]) -> pa.Table:
    n = len(prompts)
    return pa.table({"request_id": [f"r{i}" for i in range(n)], "prompt": prompts,
                     "response": ["placeholder"] * n, "reasoning_tokens": pa.array(rtok, pa.int64())})


def test_builtin_pairs_are_plausible_and_deterministic() -> None:
    a, b = builtin_pairs(200, seed=1), builtin_pairs(200, seed=1)
    assert a == b and len({p for p, _ in a}) == 200
    math = [r for _, r in a if r.rstrip().split("\n")[-1].startswith("####")]
    assert len(math) > 100 and all(r.count("\n") >= 3 for r in math)
    assert builtin_pairs(50, seed=2) != a[:50]


def test_builtin_attach_splits_traces_for_reasoning_models() -> None:
    ev = _events(["Solve step by step: how many apples?", "Explain inflation.", "How much does it cost?"], [500, 0, 0])
    t, traces = attach_responses(ev)
    resp = t.column("response").to_pylist()
    assert resp[0].startswith("####") and traces.column("request_id").to_pylist() == ["r0"]
    assert traces.column("reasoning").to_pylist()[0].endswith(resp[0])
    assert "####" in resp[2] and "\n" in resp[2]  # a chat model answers with the trace inline
    assert t.schema == ev.schema and attach_responses(ev)[0].equals(t)


def test_corpus_responses_match_prompts(shared_corpus: Path) -> None:
    recs = load_corpus_responses(shared_corpus, ["gsm8k"], limit=50)
    assert len(recs) == 50 and all(r.reasoning for r in recs)
    ev = _events([recs[3].prompt, "Think step by step: something new", "Write a haiku"], [0, 0, 0])
    t, _ = attach_responses(ev, shared_corpus, ["gsm8k", "alpaca_5000"])
    resp = t.column("response").to_pylist()
    assert resp[0] == recs[3].response
    assert "####" in resp[1]  # a reasoning prompt gets a reasoning record


def test_world_with_builtin_responses(tmp_path: Path) -> None:
    w = generate("small", seed=0, events=3000)
    attach_world_responses(w, "builtin")
    manifest = write_world(w, tmp_path)
    name = next(iter(w.events))
    assert f"{name}/reasoning.parquet" in manifest["files"]
    ev = pq.read_table(tmp_path / name / "events.parquet")
    assert not any(r == "placeholder" or r is None for r in ev.column("response").to_pylist()[:200])
    with pytest.raises(InputError):
        attach_world_responses(w, "corpus")
