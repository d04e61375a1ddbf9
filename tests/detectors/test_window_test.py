"""Signal 7 (benign-calibrated MMD window test) on a hand-made world with hard benign personas."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.detectors import registry
from distillguard.detectors.base import SIGNAL_SCHEMA, ScanContext
from distillguard.detectors.window_test import Pool, WindowTest, tail_pvalue
from distillguard.errors import InputError
from distillguard.features.embed import embed_texts
from distillguard.testing.hand_world import CHAT, TOPICS, build_world, connect


@pytest.fixture(scope="module")
def world() -> tuple[pa.Table, dict[str, str]]:
    return build_world(seed=0)


def _scores(table: pa.Table) -> dict[str, float]:
    return dict(zip(table.column("account_id").to_pylist(), table.column("score").to_pylist()))


def _by_persona(scores: dict[str, float], labels: dict[str, str], persona: str) -> list[float]:
    return [s for a, s in scores.items() if labels[a] == persona]


def test_harvesters_stand_out_from_ordinary_chat(world):
    events, labels = world
    out = WindowTest().detect(ScanContext(con=connect(events)))
    assert out.schema == SIGNAL_SCHEMA
    scores = _scores(out)
    chat = _by_persona(scores, labels, "chat")
    harvest = _by_persona(scores, labels, "distillation")
    assert len(harvest) == 4 and len(chat) == 60  # every account with >= min_n prompts gets a row
    assert statistics.median(chat) < 0.2
    assert max(chat) < 0.5  # no ordinary user reaches watch
    assert min(harvest) > max(chat)
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    # the classroom behind one NAT talks like students, not like a dataset
    assert max(_by_persona(scores, labels, "classroom_nat")) < 0.5


def test_evidence_is_checkable(world):
    events, labels = world
    out = WindowTest().detect(ScanContext(con=connect(events))).to_pylist()
    row = next(r for r in out if r["account_id"] == "harvest0")
    assert "MMD²" in row["detail"] and "reference accounts" in row["detail"]
    assert "300 prompts" in row["detail"]
    assert len(row["examples"]) == 3
    assert all(e.startswith("harvest0-r") for e in row["examples"])


def test_deterministic_and_cleans_up(world):
    events, _ = world
    con = connect(events)
    a = WindowTest().detect(ScanContext(con=con))
    b = WindowTest().detect(ScanContext(con=con))
    assert a.equals(b)
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert not any(t.startswith("_dg_wt") for t in tables)


def test_supplied_reference_file(world, tmp_path: Path):
    events, labels = world
    rng = np.random.default_rng(7)
    prompts = []
    for _ in range(300):
        words = TOPICS[list(TOPICS)[int(rng.integers(len(TOPICS)))]]
        prompts.append(CHAT[int(rng.integers(len(CHAT)))].format(a=words[int(rng.integers(10))], b=words[int(rng.integers(10))]))
    ref = tmp_path / "reference.parquet"
    pq.write_table(pa.table({"prompt": prompts}), ref)
    det = registry.create("window_test", {"reference": str(ref)})
    out = det.detect(ScanContext(con=connect(events)))
    scores = _scores(out)
    assert min(_by_persona(scores, labels, "distillation")) > statistics.median(_by_persona(scores, labels, "chat"))
    assert "supplied reference file" in out.column("detail")[0].as_py()


def test_bad_reference_is_a_clear_error(world, tmp_path: Path):
    events, _ = world
    with pytest.raises(InputError, match="not found"):
        WindowTest(reference=str(tmp_path / "missing.parquet")).detect(ScanContext(con=connect(events)))
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a"] * 30}), bad)
    with pytest.raises(InputError, match="'prompt' or 'turns'"):
        WindowTest(reference=str(bad)).detect(ScanContext(con=connect(events)))


def test_too_little_traffic_gives_no_opinion():
    events, _ = build_world(seed=1, n_chat=5, n_attack=1)
    out = WindowTest().detect(ScanContext(con=connect(events)))
    assert out.num_rows == 0 and out.schema == SIGNAL_SCHEMA


def test_tail_pvalue_is_monotone_and_empirical_inside_range():
    null = np.linspace(0.0, 1.0, 99)
    assert tail_pvalue(0.0, null) == pytest.approx(1.0)
    assert tail_pvalue(0.5, null) == pytest.approx(50 / 100)
    ps = [tail_pvalue(x, null) for x in (0.9, 1.0, 1.5, 3.0, 10.0)]
    assert all(a >= b for a, b in zip(ps, ps[1:]))
    assert ps[-1] < 1e-6


def test_pool_mmd_is_near_zero_for_the_same_distribution():
    rng = np.random.default_rng(0)
    words = [a + b for a in "bcdfghklmn" for b in ("ap", "et", "ox", "um", "ir")]
    same = [" ".join(rng.choice(words, 8)) for _ in range(400)]
    other = [" ".join(rng.choice([w.upper() + "zz" for w in words], 8)) for _ in range(40)]
    pool = Pool.of(embed_texts(same[:300]))
    near, _ = pool.mmd2(embed_texts(same[300:340]))
    far, _ = pool.mmd2(embed_texts(other))
    assert abs(near) < 0.02 < far


def test_replay_reuses_the_full_window_reference(world):
    """The scan's replay narrows `events` to flagged accounts' first events: the reference
    learned on the full window must be kept, or harvesters would be compared with each other."""
    events, _ = world
    con = connect(events)
    det = WindowTest()
    det.detect(ScanContext(con=con))
    con.execute("""create or replace view events as select * from (
                     select *, row_number() over (partition by account_id order by ts) as rn
                     from _events_arrow where account_id like 'harvest%') where rn <= 32""")
    replay = _scores(det.detect(ScanContext(con=con)))
    assert sorted(replay) == [f"harvest{i}" for i in range(4)]
    assert min(replay.values()) >= 0.5
    # a fresh detector on the narrowed view has no benign reference at all: no opinion
    assert WindowTest().detect(ScanContext(con=con)).num_rows == 0


def test_prompt_budget_shrinks_the_window(world):
    events, _ = world
    out = WindowTest(max_prompts=720).detect(ScanContext(con=connect(events))).to_pylist()
    row = next(r for r in out if r["account_id"] == "harvest0")
    assert row["detail"].startswith("10 sampled of 300 prompts")  # 72 eligible accounts -> 10 each
