"""Without Java or PySpark, `--engine spark` is one clear line (these run on any machine)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.spark import session as ss


def test_missing_java_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    why = ss.missing()
    assert why is not None and "pip install 'distillguard[spark]'" in why and "Java 17" in why
    ev = pa.table({"request_id": ["r1"], "ts": pa.array([0], pa.timestamp("us", tz="UTC")), "account_id": ["a"],
                   "prompt": ["hello"]})
    pq.write_table(ev, tmp_path / "events.parquet")
    r = CliRunner().invoke(app, ["scan", str(tmp_path / "events.parquet"), "--out", str(tmp_path / "f"),
                                 "--engine", "spark"])
    assert r.exit_code == 2
    assert "pip install 'distillguard[spark]'" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "f" / "accounts.parquet").exists()


def test_engine_options_are_checked(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["scan", str(tmp_path), "--out", str(tmp_path / "f"), "--engine", "flink"])
    assert r.exit_code == 2 and "choose duckdb or spark" in r.output
    r = CliRunner().invoke(app, ["scan", str(tmp_path), "--out", str(tmp_path / "f"), "--master", "local[2]"])
    assert r.exit_code == 2 and "--engine spark" in r.output


def test_spark_connect_client_needs_no_local_java(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark", reason="PySpark not installed")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert ss.missing(remote=True) is None
