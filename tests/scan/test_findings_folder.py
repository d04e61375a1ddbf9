"""The findings folder holds no working copy of the logs; report/evaluate find the events the
scan recorded; blind spots are reported in the CLI, the meta and report.html."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detectors"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from core_world import harvester, person, table  # noqa: E402
from provider_formats import write_openai  # noqa: E402

from distillguard.cli import app  # noqa: E402
from distillguard.findings import read_findings  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world")
    ev = table(*(harvester(f"bot{i}", n=300, seed=20 + i) for i in range(2)), *(person(f"p{i}", seed=i) for i in range(8)))
    pq.write_table(ev, d / "events.parquet")
    labels = [{"account_id": a, "provider": "p", "persona": "x", "campaign_id": "c1" if a.startswith("bot") else None, "label": "distillation" if a.startswith("bot") else "benign"}
              for a in set(ev.column("account_id").to_pylist())]
    pq.write_table(pa.Table.from_pylist(labels), d / "labels.parquet")
    return d


def _scan(args: list[str], work: Path) -> str:
    r = runner.invoke(app, ["scan", *args, "--set", f"engine.work_dir='{work}'"])
    assert r.exit_code == 0, r.output
    return r.output


def test_no_working_copy_in_findings_or_cache(world: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "f", tmp_path / "cache"
    _scan([str(world / "events.parquet"), "--out", str(out)], work)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert "_work" not in {n.split("/")[0] for n in names}
    assert names >= {"accounts.parquet", "campaigns.json", "signals.parquet", "report.html",
                     "ingest/events.quarantine.jsonl", "ingest/events.ingest.json"}
    assert list(work.iterdir()) == []  # the working copy is gone
    meta = read_findings(out).meta
    assert meta["events_path"] is None and meta["inputs"]["events"] == [str((world / "events.parquet").resolve())]


def test_keep_work_keeps_it_outside_the_findings(world: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "f", tmp_path / "cache"
    text = _scan([str(world / "events.parquet"), "--out", str(out), "--keep-work", "--no-report"], work)
    kept = list(work.iterdir())
    assert len(kept) == 1 and "working copy kept" in text
    meta = read_findings(out).meta
    assert Path(meta["events_path"]).parent == kept[0].resolve()
    assert pq.read_table(meta["events_path"]).num_rows > 0


def test_report_without_events_uses_what_the_scan_read(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    _scan([str(world / "events.parquet"), "--out", str(out), "--no-report"], tmp_path / "cache")
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "No events view was given" not in html
    bot_prompt = pq.read_table(world / "events.parquet").filter(
        pa.compute.equal(pa.compute.field("account_id"), "bot0")).column("prompt")[0].as_py()
    assert pa.compute.utf8_slice_codeunits(pa.scalar(bot_prompt), 0, 30).as_py().split("\n")[0][:20] in html


def test_report_and_evaluate_read_mapped_inputs_again(world: Path, tmp_path: Path) -> None:
    src = write_openai(pq.read_table(world / "events.parquet"), tmp_path / "chat.jsonl")
    out = tmp_path / "f"
    _scan([str(src), "--map", "openai", "--out", str(out), "--no-report"], tmp_path / "cache")
    meta = read_findings(out).meta
    assert meta["inputs"]["mapping"] == "openai"
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0 and "No events view was given" not in (out / "report.html").read_text()
    r = runner.invoke(app, ["evaluate", "--findings", str(out), "--labels", str(world / "labels.parquet")])
    assert r.exit_code == 0, r.output
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["harvested_before_flag"] is not None


def test_blind_spots_in_cli_meta_and_report(world: Path, tmp_path: Path) -> None:
    ev = pq.read_table(world / "events.parquet").drop_columns(["ip", "user_agent"])
    pq.write_table(ev, tmp_path / "events.parquet")
    out = tmp_path / "f"
    text = _scan([str(tmp_path / "events.parquet"), "--out", str(out)], tmp_path / "cache")
    assert "no accounts table: metadata and identity links off" in text.replace("\n", " ")
    assert "no user_agent: automation" in text.replace("\n", " ")
    blind = read_findings(out).meta["blind_spots"]
    status = {s["signal"]: s["status"] for s in blind["signals"]}
    assert status["metadata"] == "blind" and status["automation"] == "weakened"
    assert blind["coverage"]["event_columns"]["ip"] == 0.0
    html = (out / "report.html").read_text()
    assert 'id="blind-spots"' in html and "no accounts table: metadata and identity links off" in html


def test_report_events_in_a_provider_format(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    _scan([str(world / "events.parquet"), "--out", str(out), "--no-report"], tmp_path / "cache")
    src = write_openai(pq.read_table(world / "events.parquet"), tmp_path / "chat.jsonl")
    r = runner.invoke(app, ["report", str(out), "--events", str(src), "--map", "openai"])
    assert r.exit_code == 0, r.output
    assert "No events view was given" not in (out / "report.html").read_text()
    r = runner.invoke(app, ["report", str(out), "--map", "openai"])
    assert r.exit_code == 2 and "--map reads --events" in r.output
    r = runner.invoke(app, ["evaluate", "--findings", str(out), "--labels", str(world / "labels.parquet"),
                            "--events", str(src), "--map", "openai"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "evaluation.json").read_text())["harvested_before_flag"] is not None


def test_a_quoted_glob_is_recorded_and_read_again(world: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    ev = pq.read_table(world / "events.parquet")
    half = ev.num_rows // 2
    pq.write_table(ev.slice(0, half), logs / "events-1.parquet")
    pq.write_table(ev.slice(half), logs / "events-2.parquet")
    out = tmp_path / "f"
    _scan([str(logs / "events-*.parquet"), "--out", str(out), "--no-report"], tmp_path / "cache")
    assert read_findings(out).meta["inputs"]["events"] == [str(logs / "events-*.parquet")]
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0 and "No events view was given" not in (out / "report.html").read_text()
