"""Signal 6 (known corpus) against a tiny index built from a temp file: real DuckDB, real index."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from distillguard.corpus import build_index
from distillguard.detectors.base import SIGNAL_SCHEMA
from distillguard.testing.hand_world import prompts_context
from distillguard.detectors.known_corpus import KnownCorpus
from distillguard.detectors.registry import create
from distillguard.errors import InputError

NOUNS = "apples pears books coins marbles stamps shells cards pencils cookies".split()
NAMES = "Tom Ana Raj Mei Olu Sven Lena Omar Yuki Ines".split()


def _bench(n: int = 300) -> list[str]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        a, b = rng.sample(NAMES, 2)
        out.append(f"{a} has {rng.randint(2, 90)} {rng.choice(NOUNS)} and gives {b} a share of them on day {i}; "
                   f"{b} then trades {rng.choice(NOUNS)} for {rng.choice(NOUNS)} at the {rng.choice(NOUNS)} market "
                   f"number {i * 7 % 13}. How many {rng.choice(NOUNS)} remain with {a} at the end of week {i}?")
    return out




@pytest.fixture()
def index(tmp_path: Path) -> Path:
    f = tmp_path / "bench.txt"
    f.write_text("\n".join(_bench()) + "\n")
    build_index(f, tmp_path / "idx.parquet")
    return tmp_path / "idx.parquet"


def test_harvester_matches_and_human_does_not(index: Path) -> None:
    bench = _bench()
    # Numbers changed (masked away) and a word swapped: still the benchmark's prompts.
    harvester = [p.replace("trades", "swaps").replace("12", "99") for p in bench[:150]]
    human = [f"could you help me plan a birthday party for my {k}-year-old with a {NOUNS[k % 10]} theme "
             f"and some games for about {k + 5} kids in the garden" for k in range(40)]
    mixed = bench[150:160] + human[:30]
    ctx = prompts_context({"harvester": harvester, "human": human, "mixed": mixed})
    out = KnownCorpus(index=str(index)).detect(ctx)
    assert out.schema == SIGNAL_SCHEMA
    by = {r["account_id"]: r for r in out.to_pylist()}
    assert by["harvester"]["value"] > 0.95 and by["harvester"]["score"] > 0.9
    assert "match known corpora (bench.txt: " in by["harvester"]["detail"]
    assert len(by["harvester"]["examples"]) == 3
    assert by["human"]["score"] == 0.0 and "none of 40" in by["human"]["detail"]
    assert 0.2 < by["mixed"]["value"] < 0.3 and by["mixed"]["score"] < by["harvester"]["score"]


def test_no_index_is_silent_and_missing_index_is_clear(tmp_path: Path) -> None:
    ctx = prompts_context({"a": ["some prompt text for the account here"]})
    assert KnownCorpus().detect(ctx).num_rows == 0
    with pytest.raises(InputError, match="not found"):
        KnownCorpus(index=str(tmp_path / "nope.parquet")).detect(ctx)


def test_registered_and_configurable(index: Path) -> None:
    det = create("known_corpus", {"index": str(index), "per_account": 50})
    assert det.get_params()["per_account"] == 50
    ctx = prompts_context({"h": _bench()[:80]})
    row = det.detect(ctx).to_pylist()[0]
    assert "a sample of 50 of 80 prompts" in row["detail"]
