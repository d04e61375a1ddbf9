"""Corpus index: build from both layouts, round-trip, match reworded/masked variants, CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.corpus import build_index, corpus_files, load_index
from distillguard.errors import InputError
from distillguard.features import minhash

PROMPTS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
    "Write a short story about a robot who learns to paint landscapes in the mountains of northern Italy",
    "Explain the difference between a list and a tuple in Python, with examples of when to use each one",
]


def _write_corpus(root: Path) -> Path:
    (root / "math").mkdir(parents=True)
    with gzip.open(root / "math" / "grade.jsonl.gz", "wt") as fh:
        for i, p in enumerate(PROMPTS[:2]):
            fh.write(json.dumps({"id": f"g-{i}", "turns": [p]}) + "\n")
    (root / "misc.txt").write_text("\n".join(PROMPTS[2:]) + "\nhi\n")
    return root


def test_build_roundtrip_and_match(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    meta = build_index(corpus, tmp_path / "idx.parquet")
    assert [s["name"] for s in meta["sources"]] == ["math/grade.jsonl.gz", "misc.txt"]  # type: ignore[index]
    assert meta["indexed"] == 4  # "hi" is too short to index
    idx = load_index(tmp_path / "idx.parquet")
    assert len(idx) == 4 and idx.meta == meta
    queries = [
        PROMPTS[0].replace("48", "72").replace("Natalia", "Maria"),  # masked slots changed
        PROMPTS[1].replace("Yesterday", "Today").replace("just", "only"),  # reworded
        PROMPTS[2].upper(),  # normalisation
        "Describe the causes of the French revolution and its effects on European politics in the 1800s",
    ]
    m = idx.match(minhash.sketch(queries))
    assert [idx.sources[s] if s >= 0 else None for s in m.source] == [
        "math/grade.jsonl.gz", "math/grade.jsonl.gz", "misc.txt", None]
    assert m.exact[2] and not m.exact[3]


def test_build_is_deterministic(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "c")
    build_index(corpus, tmp_path / "a.parquet")
    build_index(corpus, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        corpus_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no corpus files"):
        corpus_files(tmp_path / "empty")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"turns": ["ok prompt here please"]}\n{not json\n')
    with pytest.raises(InputError, match="bad.jsonl:2"):
        build_index(bad, tmp_path / "x.parquet")
    (tmp_path / "plain.parquet").write_bytes(b"nope")
    with pytest.raises(InputError):
        load_index(tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="not found"):
        load_index(tmp_path / "none.parquet")


def test_cli_index_and_info(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    runner = CliRunner()
    res = runner.invoke(app, ["corpus", "index", str(corpus), "--out", str(tmp_path / "s.parquet")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["corpus", "info", str(tmp_path / "s.parquet")])
    assert res.exit_code == 0 and '"indexed": 4' in res.output
    res = runner.invoke(app, ["corpus", "index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "t.parquet")])
    assert res.exit_code == 2 and "no such" in " ".join(res.output.split())


def test_shared_corpus_file_indexes(shared_corpus: Path, tmp_path: Path) -> None:
    src = shared_corpus / "human_chat" / "mt_bench.jsonl.gz"
    meta = build_index(src, tmp_path / "mt.parquet")
    assert meta["sources"][0]["prompts"] == 160  # type: ignore[index]  # 80 two-turn questions
    assert (tmp_path / "mt.parquet").stat().st_size < 100_000
