"""Built-in mapping profiles on real-shaped logs: a simulated world written out in each
provider's format and scanned with --map gives the same verdicts as the canonical files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provider_formats import WRITERS, write_litellm_json, write_openai  # noqa: E402

from distillguard.cli import app  # noqa: E402
from distillguard.ingest import ingest, load_mapping, profiles  # noqa: E402
from distillguard.scan.run import scan  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    r = runner.invoke(app, ["simulate", "--scenario", "small", "--seed", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out / "beta"


@pytest.fixture(scope="module")
def events(world: Path) -> pa.Table:
    return pq.read_table(world / "events.parquet")


@pytest.fixture(scope="module")
def canonical(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    res = scan(world / "events.parquet", tmp_path_factory.mktemp("canon"), accounts=world / "accounts.parquet",
               report=False)
    return _verdicts(res)


def _verdicts(res) -> dict[str, str]:  # type: ignore[no-untyped-def]
    t = res.findings.accounts
    return dict(zip(t.column("account_id").to_pylist(), t.column("verdict").to_pylist()))


def test_every_documented_profile_is_packaged() -> None:
    assert {"openai", "anthropic", "litellm", "otel"} <= set(profiles())
    for name in profiles():
        m = load_mapping(name)
        assert m.description and dict(m.describe())["prompt"] != "— (not in this format)"


@pytest.mark.parametrize("profile", ["openai", "anthropic", "litellm", "otel"])
def test_profile_scans_to_the_canonical_verdicts(profile: str, world: Path, events: pa.Table,
                                                  canonical: dict[str, str], tmp_path: Path) -> None:
    write, name = WRITERS[profile]
    src = write(events, tmp_path / name)
    res = scan(src, tmp_path / "findings", accounts=world / "accounts.parquet", report=False, mapping=profile)
    rep = res.ingest_reports[0]
    assert (rep.read, rep.used, rep.quarantined) == (events.num_rows, events.num_rows, 0)
    got = _verdicts(res)
    assert set(got) == set(canonical)
    differ = {a: (canonical[a], got[a]) for a in canonical if canonical[a] != got[a]}
    assert not differ, differ
    assert sum(v == "flag" for v in got.values()) > 0


def test_openai_fields_land_in_the_contract(events: pa.Table, tmp_path: Path) -> None:
    sample = events.slice(0, 300)
    src = write_openai(sample, tmp_path / "chat.jsonl")
    rep = ingest(src, "events", tmp_path / "out", mapping="openai")
    assert rep.used == 300 and rep.mapping == "openai"
    got = {r["request_id"]: r for r in pq.read_table(tmp_path / "out" / "events").to_pylist()}
    for want in sample.to_pylist():
        g = got[want["request_id"]]
        assert g["prompt"] == want["prompt"] and g["account_id"] == want["account_id"]
        assert g["system_prompt"] == want["system_prompt"]
        assert g["prompt_tokens"] == want["prompt_tokens"] and g["reasoning_tokens"] == want["reasoning_tokens"]
        assert g["ip"] == want["ip"] and g["user_agent"] == want["user_agent"]
        assert abs((g["ts"] - want["ts"]).total_seconds()) < 1.0  # `created` is whole seconds
    # consumed fields are not carried; unmapped ones are (object, as text)
    one = next(iter(got.values()))
    assert "messages" not in one and "usage" not in one and one["object"] == "chat.completion"


def test_conversation_rule_groups_the_turns_of_one_chat(tmp_path: Path) -> None:
    base = {"object": "chat.completion", "model": "m", "user": "acc", "created": 1767225600}
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    recs = [
        {**base, "id": "a", "messages": chat},
        {**base, "id": "b", "created": 1767225660,
         "messages": chat + [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "and?"}]},
        {**base, "id": "c", "messages": [{"role": "user", "content": "other chat"}]},  # single-turn
        {**base, "id": "d", "user": "acc2", "messages": chat},  # same words, other account, never continued
        {**base, "id": "e", "created": 1767225700, "messages": chat},  # the same opener again, after the chat
    ]
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(r) for r in recs))
    ingest(tmp_path / "e.jsonl", "events", tmp_path / "out", mapping="openai")
    got = {r["request_id"]: r for r in pq.read_table(tmp_path / "out" / "events").to_pylist()}
    assert got["a"]["conversation_id"] == got["b"]["conversation_id"] is not None
    assert got["c"]["conversation_id"] is None and got["d"]["conversation_id"] is None
    assert got["e"]["conversation_id"] is None  # opens nothing that continues
    assert got["b"]["prompt"] == "and?" and got["b"]["system_prompt"] == "be brief"


def test_litellm_json_export_and_naive_start_time(events: pa.Table, tmp_path: Path) -> None:
    sample = events.slice(0, 200)
    src = write_litellm_json(sample, tmp_path / "spend.json")
    rep = ingest(src, "events", tmp_path / "out", mapping="litellm")
    assert rep.used == 200
    got = {r["request_id"]: r for r in pq.read_table(tmp_path / "out" / "events").to_pylist()}
    w = sample.to_pylist()[0]
    assert got[w["request_id"]]["ts"] == w["ts"]  # startTime has no zone; the profile says UTC
    assert got[w["request_id"]]["conversation_id"] == w["conversation_id"]  # from session_id


def test_otel_explodes_spans_and_reads_attributes(events: pa.Table, tmp_path: Path) -> None:
    sample = events.slice(0, 120)
    src = WRITERS["otel"][0](sample, tmp_path / "spans.json", spans_per_line=50)
    assert len(src.read_text().splitlines()) == 3
    rep = ingest(src, "events", tmp_path / "out", mapping="otel")
    assert (rep.read, rep.used) == (120, 120)
    got = pq.read_table(tmp_path / "out" / "events").sort_by("request_id").to_pylist()
    want = sample.sort_by("request_id").to_pylist()
    assert [g["prompt"] for g in got] == [w["prompt"] for w in want]
    assert [g["model"] for g in got] == [w["model"] for w in want]
    assert [g["ts"] for g in got] == [w["ts"] for w in want]


def test_validate_map_prints_sources_and_fill(events: pa.Table, tmp_path: Path) -> None:
    src = write_openai(events.slice(0, 50), tmp_path / "chat.jsonl")
    r = runner.invoke(app, ["validate", str(src), "--map", "openai", "--out", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert "usage.prompt_tokens" in r.output and "text of the last user message" in r.output
    assert "50 / 50" in r.output
    report = json.loads((tmp_path / "v" / "events.ingest.json").read_text())
    assert report["mapping"] == "openai" and report["used"] == 50


def test_unmapped_openai_log_points_at_map(events: pa.Table, tmp_path: Path) -> None:
    src = write_openai(events.slice(0, 5), tmp_path / "chat.jsonl")
    r = runner.invoke(app, ["validate", str(src), "--out", str(tmp_path / "v")])
    assert r.exit_code == 2 and "--map openai" in r.output and "Traceback" not in r.output


def test_wrong_profile_is_a_clear_error(events: pa.Table, tmp_path: Path) -> None:
    src = write_openai(events.slice(0, 5), tmp_path / "chat.jsonl")
    r = runner.invoke(app, ["validate", str(src), "--map", "anthropic", "--out", str(tmp_path / "v")])
    assert r.exit_code == 2 and "right --map" in r.output
    r = runner.invoke(app, ["validate", str(src), "--map", "opnai", "--out", str(tmp_path / "v")])
    assert r.exit_code == 2 and "did you mean 'openai'" in r.output


def test_replay_reads_through_a_mapping(events: pa.Table, tmp_path: Path) -> None:
    from distillguard.service.replay import iter_events

    src = write_openai(events.slice(0, 40), tmp_path / "chat.jsonl")
    batches = list(iter_events(src, 100, tmp_path / "w", mapping="openai"))
    assert sum(len(b) for b in batches) == 40
    assert all(isinstance(e["ts"], float) and e["prompt"] for b in batches for e in b)



def test_text_conversion_keeps_an_answer_that_is_json(tmp_path: Path) -> None:
    rec = {"id": "r1", "created": 1767225600, "user": "a", "messages": [{"role": "user", "content": "give json"}],
           "choices": [{"message": {"role": "assistant", "content": '{"name": "x", "type": "y"}'}}]}
    (tmp_path / "e.jsonl").write_text(json.dumps(rec) + "\n")
    ingest(tmp_path / "e.jsonl", "events", tmp_path / "out", mapping="openai")
    got = pq.read_table(tmp_path / "out" / "events").to_pylist()[0]
    assert got["response"] == '{"name": "x", "type": "y"}'


def test_mapped_folder_and_json_array(events: pa.Table, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    sample = events.slice(0, 30)
    write_litellm_json(sample.slice(0, 15), logs / "spend-1.jsonl")
    rows = [json.loads(x) for x in (logs / "spend-1.jsonl").read_text().splitlines()]
    write_litellm_json(sample.slice(15, 15), tmp_path / "tmp.jsonl")
    more = [json.loads(x) for x in (tmp_path / "tmp.jsonl").read_text().splitlines()]
    (logs / "spend-2.json").write_text(json.dumps(more))  # one JSON array, as a Postgres json_agg export
    (logs / "accounts.jsonl").write_text(json.dumps({"account_id": "x"}) + "\n")  # not read as events
    rep = ingest(logs, "events", tmp_path / "out", mapping="litellm")
    assert (rep.read, rep.used, len(rep.files)) == (30, 30, 2)
    assert len(rows) == 15


def test_pretty_printed_otlp_json_file(events: pa.Table, tmp_path: Path) -> None:
    src = WRITERS["otel"][0](events.slice(0, 20), tmp_path / "one.json", spans_per_line=100)
    doc = json.loads(src.read_text())
    src.write_text(json.dumps(doc, indent=2))  # one object over many lines
    rep = ingest(src, "events", tmp_path / "out", mapping="otel")
    assert (rep.read, rep.used) == (20, 20)


def test_accounts_in_your_own_format(world: Path, canonical: dict[str, str], tmp_path: Path) -> None:
    acc = pq.read_table(world / "accounts.parquet").to_pylist()
    with open(tmp_path / "customers.csv", "w", newline="") as fh:
        import csv

        w = csv.writer(fh)
        w.writerow(["org", "signup_ms", "billing_email", "card_fp", "cc", "ip_at_signup", "kyc", "plan"])
        for a in acc:
            ms = "" if a["created_at"] is None else int(a["created_at"].timestamp() * 1000)
            w.writerow([a["account_id"], ms, a["email"] or "", a["payment_fingerprint"] or "", a["country"] or "",
                        a["signup_ip"] or "", {True: "yes", False: "no", None: ""}[a["verified"]], a["tier"] or ""])
    (tmp_path / "customers.toml").write_text(
        '[mapping]\nkind = "accounts"\n\n[columns]\naccount_id = "org"\n'
        'created_at = { from = "signup_ms", as = "epoch_ms" }\nemail = "billing_email"\n'
        'payment_fingerprint = "card_fp"\ncountry = "cc"\nsignup_ip = "ip_at_signup"\nverified = "kyc"\ntier = "plan"\n')
    r = runner.invoke(app, ["scan", str(world / "events.parquet"), "--accounts", str(tmp_path / "customers.csv"),
                            "--accounts-map", str(tmp_path / "customers.toml"), "--out", str(tmp_path / "f"),
                            "--no-report"])
    assert r.exit_code == 0, r.output
    assert "no accounts table" not in r.output
    t = pq.read_table(tmp_path / "f" / "accounts.parquet")
    got = dict(zip(t.column("account_id").to_pylist(), t.column("verdict").to_pylist()))
    assert got == canonical
