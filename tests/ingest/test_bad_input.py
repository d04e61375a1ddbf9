"""Ingest never falls over: every bad value quarantines its row (file, row, reason) the same
way in JSONL, CSV and Parquet; the good rows survive; the counts add up; no tracebacks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import IngestConfig
from distillguard.ingest import ingest
from distillguard.ingest import rules

runner = CliRunner()
GOOD = {"request_id": "r1", "ts": "2026-03-01T10:00:00Z", "account_id": "acc-1", "prompt": "hello there"}


def _q(out: Path, kind: str = "events") -> dict[int, str]:
    return {r["row"]: r["reason"] for r in map(json.loads, (out / f"{kind}.quarantine.jsonl").read_text().splitlines())}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _csv(path: Path, rows: list[dict], encoding: str = "utf-8") -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in cols})
    return path


BAD_VALUES = [
    ({"prompt_tokens": 1e30}, "out of range for prompt_tokens"),
    ({"completion_tokens": -5}, "wrong type for completion_tokens: expected a non-negative integer"),
    ({"ts": "2026-03-01T10:00:00"}, "has no time zone"),
    ({"ts": "2026-03-01"}, "date without a time of day"),
    ({"prompt": "nul \x00 byte"}, "control character U+0000 in prompt"),
    ({"account_id": "a" * 5000}, "absurd size: account_id has 5,000 characters"),
]


def _bad_rows() -> list[dict]:
    return [GOOD] + [{**GOOD, "request_id": f"b{i}", **change} for i, (change, _) in enumerate(BAD_VALUES)] + \
        [{**GOOD, "request_id": "r9", "prompt_tokens": 7}]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_every_bad_value_quarantines_its_row_in_every_format(fmt: str, tmp_path: Path) -> None:
    rows = _bad_rows()
    if fmt == "jsonl":
        src = _jsonl(tmp_path / "events.jsonl", rows)
    elif fmt == "csv":
        src = _csv(tmp_path / "events.csv", rows)
    else:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        src = tmp_path / "events.parquet"
        pq.write_table(pa.table({c: pa.array([None if r.get(c) is None else str(r.get(c)) for r in rows])
                                 for c in cols}), src)
    rep = ingest(src, "events", tmp_path / "out")
    assert (rep.read, rep.used, rep.quarantined) == (len(rows), 2, len(BAD_VALUES))
    q = _q(tmp_path / "out")
    for i, (_, reason) in enumerate(BAD_VALUES):
        assert reason in q[i + 2], (i, q[i + 2])
    good = pq.read_table(tmp_path / "out" / "events").column("request_id").to_pylist()
    assert sorted(good) == ["r1", "r9"]


def test_huge_integer_literal_and_native_parquet_overflow(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "request_id": "x"})[:-1]
                   + ', "prompt_tokens": 1000000000000000000000000000000}\n')
    rep = ingest(src, "events", tmp_path / "out")
    assert (rep.used, rep.quarantined) == (1, 1) and "out of range" in _q(tmp_path / "out")[2]
    p = tmp_path / "events.parquet"
    pq.write_table(pa.table({**{k: [v, v] for k, v in GOOD.items()}, "request_id": ["a", "b"],
                             "prompt_tokens": pa.array([3.0, 1e30])}), p)
    rep = ingest(p, "events", tmp_path / "out2")
    assert (rep.used, rep.quarantined) == (1, 1) and "out of range" in _q(tmp_path / "out2")[2]


def test_invalid_utf8_is_the_same_row_level_reason_in_csv_and_jsonl(tmp_path: Path) -> None:
    body = [json.dumps(GOOD), json.dumps({**GOOD, "request_id": "r2", "prompt": "caf__"}),
            json.dumps({**GOOD, "request_id": "r3"})]
    raw = "\n".join(body).encode().replace(b"caf__", b"caf\xff\xfe\xfd\xfc") + b"\n"
    (tmp_path / "events.jsonl").write_bytes(raw)
    rep = ingest(tmp_path / "events.jsonl", "events", tmp_path / "j")
    assert (rep.read, rep.used, rep.quarantined) == (3, 2, 1)
    assert _q(tmp_path / "j")[2].startswith("invalid utf-8")

    _csv(tmp_path / "events.csv", [GOOD, {**GOOD, "request_id": "r2", "prompt": "caf__"}, {**GOOD, "request_id": "r3"}])
    data = (tmp_path / "events.csv").read_bytes().replace(b"caf__", b"caf\xff\xfe\xfd\xfc")
    (tmp_path / "events.csv").write_bytes(data)
    rep = ingest(tmp_path / "events.csv", "events", tmp_path / "c")
    assert (rep.read, rep.used, rep.quarantined) == (3, 2, 1)
    assert _q(tmp_path / "c")[2].startswith("invalid utf-8 in prompt")


def test_encoding_option_reads_a_latin1_file(tmp_path: Path) -> None:
    rows = [GOOD, {**GOOD, "request_id": "r2", "prompt": "crème brûlée"}]
    _csv(tmp_path / "events.csv", rows, encoding="latin-1")
    _jsonl(tmp_path / "e.jsonl", rows)
    (tmp_path / "events.jsonl").write_bytes((tmp_path / "e.jsonl").read_text().replace("\\u00e8", "è")
                                            .replace("\\u00fb", "û").encode("latin-1"))
    for name in ("events.csv", "events.jsonl"):
        bad = ingest(tmp_path / name, "events", tmp_path / "u8")
        assert bad.quarantined == 1  # read as utf-8, the latin-1 bytes are invalid
        r = runner.invoke(app, ["validate", str(tmp_path / name), "--encoding", "latin-1", "--out", str(tmp_path / "l1")])
        assert r.exit_code == 0, r.output
        got = pq.read_table(tmp_path / "l1" / "events").column("prompt").to_pylist()
        assert "crème brûlée" in got
    r = runner.invoke(app, ["validate", str(tmp_path / "events.csv"), "--encoding", "klingon", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "not a known text encoding" in r.output


def test_oversized_line_is_quarantined_before_parsing(tmp_path: Path) -> None:
    big = {**GOOD, "request_id": "big", "prompt": "x" * 3000}
    _jsonl(tmp_path / "events.jsonl", [GOOD, big])
    rep = ingest(tmp_path / "events.jsonl", "events", tmp_path / "out", IngestConfig(max_row_bytes=1000))
    assert (rep.used, rep.quarantined) == (1, 1)
    assert _q(tmp_path / "out")[2].startswith("absurd size: line has")


def test_naive_times_are_read_under_an_explicit_zone(tmp_path: Path) -> None:
    _jsonl(tmp_path / "events.jsonl", [{**GOOD, "ts": "2026-03-01T10:00:00"}])
    rep = ingest(tmp_path / "events.jsonl", "events", tmp_path / "out", IngestConfig(naive_timezone="Europe/Paris"))
    assert rep.used == 1
    ts = pq.read_table(tmp_path / "out" / "events").column("ts").to_pylist()[0]
    assert ts.hour == 9  # 10:00 in Paris (winter) is 09:00 UTC


def test_validate_cli_bad_values_exit_zero_without_traceback(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "events.jsonl", _bad_rows())
    r = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "out of range" in r.output


def test_scan_with_nothing_usable_fails_with_one_sentence(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "events.jsonl", [{**GOOD, "request_id": f"r{i}", "ts": "yesterday"} for i in range(5)])
    r = runner.invoke(app, ["scan", str(src), "--out", str(tmp_path / "f")])
    assert r.exit_code == 2, r.output
    assert "nothing to scan: all 5 events were quarantined (unparseable timestamp (5))" in r.output
    assert (tmp_path / "f" / "ingest" / "events.quarantine.jsonl").exists()
    (tmp_path / "empty.jsonl").write_text("")
    r = runner.invoke(app, ["scan", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "g")])
    assert r.exit_code == 2 and "holds no events" in r.output
    r = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "v")])
    assert r.exit_code == 2 and "none of the 5 events rows is usable" in r.output


def test_several_inputs_as_from_an_unquoted_shell_glob(tmp_path: Path) -> None:
    files = [_jsonl(tmp_path / f"logs-{i}.jsonl", [{**GOOD, "request_id": f"r{i}{j}", "account_id": f"a{j}"}
                                                   for j in range(3)]) for i in range(3)]
    r = runner.invoke(app, ["validate", *map(str, files), "--out", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "v" / "events.ingest.json").read_text())["used"] == 9
    r = runner.invoke(app, ["scan", *map(str, files), "--out", str(tmp_path / "f"), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "9 events, 3 accounts" in r.output


def test_the_service_applies_the_same_rule() -> None:
    from distillguard.service.schemas import RequestError, check_event

    ev = {"request_id": "r", "account_id": "a", "prompt": "p"}
    for bad in ("2026-03-01", "2026-03-01T10:00:00", "not a time"):
        with pytest.raises(RequestError) as e:
            check_event({**ev, "ts": bad}, "event", 1000)
        with pytest.raises(rules.RuleError) as b:
            rules.parse_timestamp(bad)
        assert str(b.value) in e.value.message
    with pytest.raises(RequestError, match="non-negative"):
        check_event({**ev, "ts": 1767225600, "prompt_tokens": -1}, "event", 1000)
    _, t = check_event({**ev, "ts": "2026-03-01T10:00:00Z"}, "event", 1000)
    assert t == rules.parse_timestamp("2026-03-01T10:00:00Z") == 1772359200.0
    assert check_event({**ev, "ts": 1772359200000}, "event", 1000)[1] == 1772359200.0  # ms, same as batch


def test_csv_record_with_wrong_field_count_is_quarantined_with_its_row(tmp_path: Path) -> None:
    src = tmp_path / "events.csv"
    src.write_text("request_id,ts,account_id,prompt\n"
                   "r1,2026-03-01T10:00:00Z,a,hello\n"
                   'r2,2026-03-01T10:00:00Z,a,"multi\nline"\n'
                   "r3,2026-03-01T10:00:00Z,a,hello,extra\n"
                   "r4,2026-03-01T10:00:00Z,a,bye\n"
                   "r5,2026-03-01T10:00:00Z,a,\"unused\"\n")
    rep = ingest(src, "events", tmp_path / "out")
    assert (rep.read, rep.used, rep.quarantined) == (5, 4, 1)
    assert _q(tmp_path / "out")[3].startswith("wrong number of fields: expected 4, got 5")
    (tmp_path / "events.csv").write_text(src.read_text().replace('"unused"', '"dup",'))  # ragged last row
    rep = ingest(src, "events", tmp_path / "out2")
    q = _q(tmp_path / "out2")
    assert rep.quarantined == 2 and set(q) == {3, 5}
    (tmp_path / "events.csv").write_text(src.read_text().replace("r4,2026-03-01T10:00:00Z", "r4,soon"))
    ingest(src, "events", tmp_path / "out3")
    q = _q(tmp_path / "out3")
    assert q[3].startswith("wrong number of fields") and q[4].startswith("unparseable timestamp")  # rows stay exact


def test_scan_with_some_bad_rows_exits_zero(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "events.jsonl", _bad_rows())
    r = runner.invoke(app, ["scan", str(src), "--out", str(tmp_path / "f"), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "2 events, 1 accounts" in r.output
    q = (tmp_path / "f" / "ingest" / "events.quarantine.jsonl").read_text().splitlines()
    assert len(q) == len(BAD_VALUES)
