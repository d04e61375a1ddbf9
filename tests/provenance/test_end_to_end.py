"""`distillguard provenance test` end to end: toy students served over HTTP on 127.0.0.1.

A marked student learnt from answers one account harvested through the guard's protector
(the first part before it was flagged, the rest while throttled: summarised, canaried,
marked); a clean student learnt from the same teacher's unmarked answers. The command must
find the marks and name the account in the first, and find nothing in the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.protect.canary import CanaryRegistry
from distillguard.protect.policy import ProtectPolicy
from distillguard.protect.protector import Protector
from distillguard.provenance.evidence import analyse, holm
from distillguard.provenance.experiment import harvest, mix, student
from distillguard.provenance.serve import chat_app
from distillguard.simulate.responses import builtin_pairs
from distillguard.testing.server import ThreadedServer

SECRET = b"e2e-provenance-secret-42"
ACCOUNTS = [f"acct_{i:02d}" for i in range(12)]
LEAKER = "acct_05"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("prov")
    reg = CanaryRegistry(d / "canaries.db")
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.1), reg)
    teacher = builtin_pairs(1600, seed=3)
    marked = harvest(prot, teacher[:600], LEAKER, "allow") + harvest(prot, teacher[600:800], LEAKER, "throttle")
    reg.close()
    (d / "protect.key").write_bytes(SECRET)
    probes = [p for p, _ in teacher[:150]] + [p for p, _ in teacher[600:750]]
    (d / "probes.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in probes))
    (d / "accounts.txt").write_text("\n".join(ACCOUNTS) + "\n")
    return {"dir": d, "marked": student(marked), "clean": student(teacher[800:]), "teacher": teacher,
            "marked_pairs": marked}


def _run(world: dict, which: str, out: Path) -> dict:
    s = world[which]
    d = world["dir"]
    with ThreadedServer(chat_app(lambda prompt, seed: s.generate(prompt, seed), f"toy-{which}"),
                        log_level="error") as srv:
        res = CliRunner().invoke(app, ["provenance", "test", "--endpoint", srv.url + "/v1",
                                       "--prompts", str(d / "probes.jsonl"), "--key-file", str(d / "protect.key"),
                                       "--accounts", str(d / "accounts.txt"), "--registry", str(d / "canaries.db"),
                                       "--canary-rate", "0.1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "provenance.html").exists() and (out / "outputs.jsonl").exists()
    rep = json.loads((out / "provenance.json").read_text())
    rep["_stdout"] = res.output
    return rep


def test_marked_student_is_detected_and_the_leaker_named(world: dict, tmp_path: Path) -> None:
    rep = _run(world, "marked", tmp_path / "marked")
    assert rep["probes"] == 300
    assert rep["combined"]["p_value"] < 1e-6
    assert rep["tests"][0]["test"] == "watermark:provider" and rep["tests"][0]["p_value"] < 1e-4
    assert rep["traced"] == [LEAKER]
    assert rep["accounts"][0]["account_id"] == LEAKER
    assert "traced accounts: acct_05" in rep["_stdout"]
    assert rep["canaries"]["trigger_probes"] > 0 and rep["canaries"]["hash_mismatches"] == 0
    html = (tmp_path / "marked" / "provenance.html").read_text()
    assert "evidence that the suspect learnt from our outputs" in html and LEAKER in html


def test_clean_student_shows_nothing(world: dict, tmp_path: Path) -> None:
    rep = _run(world, "clean", tmp_path / "clean")
    assert rep["combined"]["p_value"] > 0.01
    assert rep["traced"] == []
    assert "no evidence" in rep["verdict"]


def test_outputs_file_input_gives_the_same_answer(world: dict, tmp_path: Path) -> None:
    first = _run(world, "marked", tmp_path / "a")
    d = world["dir"]
    res = CliRunner().invoke(app, ["provenance", "test", "--outputs", str(tmp_path / "a" / "outputs.jsonl"),
                                   "--key-file", str(d / "protect.key"), "--accounts", str(d / "accounts.txt"),
                                   "--registry", str(d / "canaries.db"), "--canary-rate", "0.1",
                                   "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    second = json.loads((tmp_path / "b" / "provenance.json").read_text())
    assert second["combined"]["p_value"] == first["combined"]["p_value"] and second["traced"] == first["traced"]


def test_ten_percent_mix_still_detected_with_harvested_probes(world: dict) -> None:
    train = mix(world["marked_pairs"], world["teacher"][800:], 0.1, 800)
    s = student(train)
    marked_prompts = {p for p, _ in world["marked_pairs"]}
    probes = [p for p, _ in train if p in marked_prompts][:80]
    pairs = [(p, s.generate(p, i)) for i, p in enumerate(probes)]
    ev = analyse(pairs, SECRET, accounts=ACCOUNTS)
    assert ev.p_value < 1e-3 and ev.traced == [LEAKER]


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["provenance", "test", "--key-file", str(tmp_path / "none.key"),
                                 "--outputs", str(tmp_path / "x.jsonl")])
    assert r.exit_code == 2 and "not found" in r.output
    r = CliRunner().invoke(app, ["provenance", "test"])
    assert r.exit_code == 2 and "exactly one of --endpoint" in r.output
    assert "OpenAI-compatible" in CliRunner().invoke(app, ["provenance", "test", "--help"]).output


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_paired_likelihood_test_over_http(world: dict, tmp_path: Path) -> None:
    """A suspect that scores text: the marked student prefers our keyed variants, the clean one does not."""
    d = world["dir"]
    teacher = world["teacher"]
    ref = tmp_path / "ours.jsonl"  # our own unmarked answers to the probe prompts
    ref.write_text("".join(json.dumps({"prompt": p, "output": r}) + "\n" for p, r in teacher[:150] + teacher[600:750]))
    ps = {}
    for which in ("marked", "clean"):
        s = world[which]
        app_ = chat_app(lambda prompt, seed, s=s: s.generate(prompt, seed), f"toy-{which}", score=s.logprob)
        with ThreadedServer(app_, log_level="error") as srv:
            res = CliRunner().invoke(app, ["provenance", "test", "--endpoint", srv.url + "/v1", "--prompts",
                                           str(d / "probes.jsonl"), "--key-file", str(d / "protect.key"),
                                           "--accounts", str(d / "accounts.txt"), "--reference", str(ref),
                                           "--likelihood", "--max-probes", "120", "--out", str(tmp_path / which)])
        assert res.exit_code == 0, res.output
        rep = json.loads((tmp_path / which / "provenance.json").read_text())
        assert rep["likelihood"]["run"]
        ps[which] = {t["test"]: t for t in rep["tests"] if t["test"].startswith("likelihood")}
    assert ps["marked"]["likelihood:provider"]["p_value"] < 1e-4
    assert ps["marked"]["likelihood:provider"]["share"] > 0.8
    assert ps["clean"]["likelihood:provider"]["p_value"] > 0.01
    lead = [k for k in ps["marked"] if k.startswith("likelihood:account:")]
    assert lead == [f"likelihood:account:{LEAKER}"] and ps["marked"][lead[0]]["p_value"] < 1e-4
