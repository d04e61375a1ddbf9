"""Scenario files (clear errors), corpus mode, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.errors import ConfigError, InputError
from distillguard.simulate.scenario import BUILTIN, load_scenario, scenario_from_dict
from distillguard.simulate.world import generate

MINI = {
    "world": {"name": "mini", "days": 3},
    "providers": [{"name": "p1"}],
    "benign": [{"persona": "casual_chat", "accounts": 20}],
    "campaigns": [{"type": "cot_harvest", "id": "c1", "requests": [500, 800]}],
}


def _with(**changes: object) -> dict[str, object]:
    doc = json.loads(json.dumps(MINI))
    for k, v in changes.items():
        doc[k] = v
    return doc


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_scenarios_load(name: str) -> None:
    assert load_scenario(name).providers


def test_unknown_key_names_itself() -> None:
    with pytest.raises(ConfigError, match="acounts"):
        scenario_from_dict(_with(benign=[{"persona": "casual_chat", "acounts": 3}]))


def test_bad_persona_provider_value_and_section() -> None:
    with pytest.raises(ConfigError, match="persona"):
        scenario_from_dict(_with(benign=[{"persona": "alien"}]))
    with pytest.raises(ConfigError, match="unknown provider 'p9'"):
        scenario_from_dict(_with(campaigns=[{"type": "hydra", "providers": ["p9"]}]))
    with pytest.raises(ConfigError, match="free_share"):
        scenario_from_dict(_with(benign=[{"persona": "casual_chat", "free_share": "lots"}]))
    with pytest.raises(ConfigError, match="worlds"):
        scenario_from_dict(_with(worlds={"days": 2}))
    with pytest.raises(ConfigError, match="not found"):
        load_scenario("/nonexistent/scenario.toml")


def test_bad_toml_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[world\nname=1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_scenario(p)


def test_user_scenario_file_runs(tmp_path: Path) -> None:
    w = generate(scenario_from_dict(MINI), seed=1)
    lab = w.labels["p1"].to_pydict()
    assert set(lab["label"]) == {"benign", "distillation"}
    assert {"c1"} == {c for c in lab["campaign_id"] if c}


def test_corpus_mode_uses_selected_sources(shared_corpus: Path) -> None:
    doc = _with(campaigns=[{"type": "cot_harvest", "id": "c1", "requests": [600, 800],
                            "sources": ["reasoning_problems/gsm8k*"], "elicitation": 0.0, "template_share": 0.0,
                            "paraphrase": 0.0}])
    w = generate(scenario_from_dict(doc), seed=1, corpus=shared_corpus)
    assert w.corpus == str(shared_corpus)
    ev, lab = w.events["p1"], w.labels["p1"]
    attackers = {a for a, l in zip(lab.column("account_id").to_pylist(), lab.column("label").to_pylist()) if l != "benign"}
    import gzip

    gsm = set()
    with gzip.open(shared_corpus / "reasoning_problems" / "gsm8k.jsonl.gz", "rt") as f:
        for line in f:
            gsm.add(json.loads(line)["turns"][0])
    prompts = [p for a, p in zip(ev.column("account_id").to_pylist(), ev.column("prompt").to_pylist()) if a in attackers]
    assert prompts and all(p in gsm for p in prompts)


def test_corpus_glob_without_match_is_a_clear_error(shared_corpus: Path) -> None:
    doc = _with(campaigns=[{"type": "cot_harvest", "sources": ["reasoning_problems/nope*"]}])
    with pytest.raises(ConfigError, match="nope"):
        generate(scenario_from_dict(doc), seed=1, corpus=shared_corpus)
    with pytest.raises(InputError):
        generate(scenario_from_dict(MINI), seed=1, corpus="/nonexistent/corpus")


def test_cli_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "world"
    res = CliRunner().invoke(app, ["simulate", "--scenario", "small", "--seed", "4", "--events", "6000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["providers"]) == {"alpha", "beta"}
    assert pq.read_table(out / "labels.parquet").num_rows == sum(
        pq.read_table(out / p / "labels.parquet").num_rows for p in ("alpha", "beta"))
    bad = CliRunner().invoke(app, ["simulate", "--scenario", "nope", "--out", str(out)])
    assert bad.exit_code == 2 and "scenario not found" in bad.output


def test_researcher_runs_a_benchmark_once(shared_corpus: Path) -> None:
    doc = _with(benign=[{"persona": "researcher", "rate": [2000.0, 2500.0], "sources": ["reasoning_problems/gsm8k*"],
                         "elicitation": 0.0, "template_share": 0.0, "account_active_days": 1.0}], campaigns=[])
    w = generate(scenario_from_dict(doc), seed=2, corpus=shared_corpus)
    prompts = w.events["p1"].column("prompt").to_pylist()
    assert 1000 < len(prompts) < 8792
    assert len(set(prompts)) == len(prompts)  # each question once, as a benchmark harness does
