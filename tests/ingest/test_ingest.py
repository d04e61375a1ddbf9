"""The traffic contract: every kind of bad input is reported, nothing is lost."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.config import IngestConfig
from distillguard.errors import InputError, SchemaError
from distillguard.ingest import ingest
from distillguard.schema import EVENTS_SCHEMA

GOOD = {"request_id": "r1", "ts": "2026-03-01T10:00:00Z", "account_id": "acc-1", "prompt": "hello there"}


def _rows() -> list[dict]:
    return [
        GOOD,
        {**GOOD, "request_id": "r2", "ts": "not a time"},                 # unparseable timestamp
        {**GOOD, "request_id": "r1", "prompt": "dup"},                   # duplicate request_id
        {**GOOD, "request_id": "r3", "prompt": "   "},                   # empty prompt
        {**GOOD, "request_id": "r4", "prompt_tokens": "lots"},           # wrong type
        {**GOOD, "request_id": "r5", "prompt": "x" * 500},               # absurd size (limit below)
        {**GOOD, "request_id": "r6", "account_id": None},                # missing required value
        {**GOOD, "request_id": "r7", "ts": "2026-03-01T12:00:00+02:00", "prompt_tokens": "12",
         "team": "blue"},                                                 # fine, offset ts, extra column
    ]


def _read(out: Path) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con.sql(f"SELECT * FROM read_parquet('{out}/events/*.parquet', union_by_name=true) ORDER BY request_id").to_arrow_table()


def _quarantine(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.quarantine.jsonl").read_text().splitlines()]


CFG = IngestConfig(max_prompt_chars=400)


def _check(report, out: Path) -> None:  # type: ignore[no-untyped-def]
    assert report.read == 8 and report.used == 2 and report.quarantined == 6
    assert report.read == report.used + report.quarantined
    t = _read(out)
    assert t.column("request_id").to_pylist() == ["r1", "r7"]
    assert t.schema.field("ts").type == EVENTS_SCHEMA.field("ts").type
    ts7 = t.column("ts").to_pylist()[1]
    assert ts7.hour == 10  # 12:00+02:00 is 10:00 UTC
    assert t.column("prompt_tokens").to_pylist()[1] == 12
    assert "team" in t.column_names  # unknown columns are kept
    q = {r["row"]: r["reason"] for r in _quarantine(out)}
    assert q[2].startswith("unparseable timestamp")
    assert q[3].startswith("duplicate request_id 'r1'")
    assert q[4] == "empty prompt"
    assert q[5].startswith("wrong type for prompt_tokens")
    assert q[6].startswith("absurd size: prompt")
    assert q[7] == "missing account_id"


def test_jsonl_every_kind_of_bad_row(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    report = ingest(src, "events", tmp_path / "out", CFG)
    _check(report, tmp_path / "out")
    assert all(r["file"] == str(src) for r in _quarantine(tmp_path / "out"))


def test_jsonl_gz_and_broken_lines(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl.gz"
    lines = [json.dumps(r) for r in _rows()] + ["{broken", "[1, 2]"]
    with gzip.open(src, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    report = ingest(src, "events", tmp_path / "out", CFG)
    assert report.read == 10 and report.used == 2 and report.quarantined == 8
    reasons = {r["row"]: r["reason"] for r in _quarantine(tmp_path / "out")}
    assert reasons[9].startswith("invalid JSON") and reasons[10] == "JSON line is not an object"


def test_csv_with_embedded_newlines(tmp_path: Path) -> None:
    src = tmp_path / "events.csv"
    rows = _rows()
    rows[0] = {**GOOD, "prompt": "line one\nline two, with comma"}
    cols = ["request_id", "ts", "account_id", "prompt", "prompt_tokens", "team"]
    with open(src, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in cols})
    report = ingest(src, "events", tmp_path / "out", CFG)
    _check(report, tmp_path / "out")
    assert _read(tmp_path / "out").column("prompt").to_pylist()[0] == "line one\nline two, with comma"


def test_parquet_with_string_columns(tmp_path: Path) -> None:
    rows = _rows()
    cols = ["request_id", "ts", "account_id", "prompt", "prompt_tokens", "team"]
    table = pa.table({c: pa.array([None if r.get(c) is None else str(r.get(c)) for r in rows], pa.string()) for c in cols})
    pq.write_table(table, tmp_path / "events.parquet")
    report = ingest(tmp_path / "events.parquet", "events", tmp_path / "out", CFG)
    _check(report, tmp_path / "out")


def test_parquet_native_types_fast_path(tmp_path: Path) -> None:
    import datetime as dt

    t = pa.table({
        "request_id": ["a", "b"], "account_id": ["x", "y"], "prompt": ["p", "q"],
        "ts": pa.array([dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)], pa.timestamp("ms")),
        "completion_tokens": pa.array([1, 2], pa.int32()),
    })
    pq.write_table(t, tmp_path / "events.parquet")
    # a zone-less timestamp column follows the naive-time rule: refused unless a zone is set
    r = ingest(tmp_path / "events.parquet", "events", tmp_path / "out")
    assert (r.read, r.used, r.quarantined) == (2, 0, 2)
    assert "no time zone" in _quarantine(tmp_path / "out")[0]["reason"]
    r = ingest(tmp_path / "events.parquet", "events", tmp_path / "out", IngestConfig(naive_timezone="UTC"))
    assert (r.read, r.used, r.quarantined) == (2, 2, 0)
    out = _read(tmp_path / "out")
    assert out.schema.field("completion_tokens").type == pa.int64()
    assert out.column("ts").to_pylist()[0].hour == 0


def test_missing_required_column_names_file(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text(json.dumps({"request_id": "r", "ts": "2026-01-01T00:00:00Z", "prompt": "p"}) + "\n")
    with pytest.raises(SchemaError, match=r"events.jsonl.*account_id"):
        ingest(src, "events", tmp_path / "out")


def test_duplicates_across_files_of_a_folder(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    (d / "events-1.jsonl").write_text(json.dumps(GOOD) + "\n")
    (d / "events-2.jsonl").write_text(json.dumps(GOOD) + "\n")
    (d / "accounts.jsonl").write_text(json.dumps({"account_id": "acc-1"}) + "\n")  # ignored for events
    r = ingest(d, "events", tmp_path / "out")
    assert (r.read, r.used, r.quarantined) == (2, 1, 1)
    assert len(r.files) == 2


def test_accounts_types_and_duplicates(tmp_path: Path) -> None:
    src = tmp_path / "accounts.jsonl"
    recs = [
        {"account_id": "a", "created_at": "2025-01-01T00:00:00Z", "verified": "true", "tier": "free"},
        {"account_id": "b", "verified": "maybe"},
        {"account_id": "a"},
    ]
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    r = ingest(src, "accounts", tmp_path / "out")
    assert (r.read, r.used, r.quarantined) == (3, 1, 2)
    reasons = sorted(json.loads(x)["reason"] for x in (tmp_path / "out/accounts.quarantine.jsonl").read_text().splitlines())
    assert reasons[0].startswith("duplicate account_id") and reasons[1].startswith("wrong type for verified")


def test_bad_paths_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        ingest(tmp_path / "nope*.parquet", "events", tmp_path / "out")
    (tmp_path / "events.txt").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        ingest(tmp_path / "events.txt", "events", tmp_path / "out")


def test_empty_input_keeps_schema(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text("")
    r = ingest(src, "events", tmp_path / "out")
    assert (r.read, r.used, r.quarantined) == (0, 0, 0)
    assert _read(tmp_path / "out").num_rows == 0


def test_small_batches_keep_row_numbers(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    r = ingest(src, "events", tmp_path / "out", IngestConfig(max_prompt_chars=400, batch_rows=3))
    _check(r, tmp_path / "out")
