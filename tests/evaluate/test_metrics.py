"""Metric correctness on cases small enough to check by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.errors import InputError
from distillguard.evaluate import evaluate
from distillguard.findings import Findings, account_table
from distillguard.schema import LABELS_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _labels() -> pa.Table:
    rows = [
        ("b1", "P", "benign", "casual_chat", None, None),
        ("b2", "P", "benign", "casual_chat", None, None),
        ("b3", "P", "benign", "enterprise", None, None),
        ("b4", "P", "benign", "enterprise", None, None),
        ("m1", "P", "distillation", "hydra", "c1", "x"),
        ("m2", "P", "distillation", "hydra", "c1", "x"),
        ("m3", "P", "distillation", "cot", "c2", "y"),
        ("z1", "Q", "distillation", "cot", "c9", "y"),  # other provider: ignored
    ]
    cols = list(zip(*rows))
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(cols, LABELS_SCHEMA)], schema=LABELS_SCHEMA)


def _findings() -> Findings:
    rows = [
        {"account_id": "b1", "score": 0.1, "verdict": "clear"},
        {"account_id": "b2", "score": 0.6, "verdict": "watch"},
        {"account_id": "b3", "score": 0.85, "verdict": "flag", "first_flag_ts": T0},
        # b4 absent: counts as score 0, clear
        {"account_id": "m1", "score": 0.9, "verdict": "flag", "first_flag_ts": T0 + timedelta(hours=2)},
        {"account_id": "m2", "score": 0.95, "verdict": "flag", "first_flag_ts": T0 + timedelta(hours=5)},
        {"account_id": "m3", "score": 0.3, "verdict": "clear"},
    ]
    return Findings(account_table(rows), [], {"detector": "test"})


def _events() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # m1: one request per hour for 10 h (2 before its flag); m2: 10 requests (5 before); m3: 4 requests
    rows = [(a, T0 + timedelta(hours=h)) for a, n in (("m1", 10), ("m2", 10), ("m3", 4), ("b1", 3)) for h in range(n)]
    con.register("ev", pa.table({"account_id": [r[0] for r in rows], "ts": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC"))}))
    con.execute("CREATE VIEW events AS SELECT * FROM ev")
    return con


def test_hand_checked_metrics() -> None:
    r = evaluate(_findings(), _labels(), _events())
    assert r["providers"] == ["P"]
    assert r["accounts"] == 7 and r["missing_in_findings"] == 1
    f = r["at_flag"]
    assert (f["tp"], f["fp"], f["fn"], f["tn"]) == (2, 1, 1, 3)
    assert f["precision"] == pytest.approx(2 / 3)
    assert f["recall"] == pytest.approx(2 / 3)
    assert f["benign_fpr"] == pytest.approx(1 / 4)
    # scores: benign 0.1, 0.6, 0.85, 0.0; malicious 0.9, 0.95, 0.3 -> 4 + 4 + 2 = 10 of 12 pairs ordered right
    assert r["roc_auc"] == pytest.approx(10 / 12)
    assert r["fpr_per_benign_persona"]["enterprise"]["fpr"] == pytest.approx(0.5)
    assert r["fpr_per_benign_persona"]["casual_chat"] == {"accounts": 2, "flagged": 0, "watched": 1, "fpr": 0.0}
    assert r["worst_persona_fpr"] == pytest.approx(0.5)
    assert r["recall_per_campaign_type"]["hydra"]["recall"] == 1.0
    assert r["recall_per_campaign_type"]["cot"]["recall"] == 0.0
    c1, c2 = r["campaigns"]["c1"], r["campaigns"]["c2"]
    assert c1["found"] and not c2["found"]
    assert (c1["requests"], c1["harvested_before_flag"]) == (20, 2 + 5)
    assert (c2["requests"], c2["harvested_before_flag"]) == (4, 4)  # never flagged: all harvested
    assert r["campaign_recall"] == 0.5
    assert r["harvested_before_flag"] == 11
    assert r["harvested_share_worst_campaign"] == 1.0


def test_without_events_skips_harvest_counts() -> None:
    r = evaluate(_findings(), _labels(), None)
    assert r["harvested_before_flag"] is None
    assert r["campaigns"]["c1"]["found"]


def test_explicit_provider_and_no_overlap() -> None:
    r = evaluate(_findings(), _labels(), None, provider="Q")
    assert r["accounts"] == 1 and r["missing_in_findings"] == 1
    lab = _labels().filter(pc.equal(_labels().column("provider"), "Q"))
    with pytest.raises(InputError, match="no labelled account"):
        evaluate(_findings(), lab, None)
