"""The findings contract, the configuration object and the ATLAS table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from distillguard import atlas
from distillguard.config import load_config
from distillguard.errors import ConfigError, InputError, SchemaError
from distillguard.findings import Campaign, Findings, Reason, account_table, read_findings, write_findings


def test_findings_round_trip(tmp_path: Path) -> None:
    acc = account_table([{"account_id": "a", "score": 0.9, "verdict": "flag", "campaign_id": "c1",
                          "reasons": [Reason("volume", 5000.0, 0.4, "5,000 requests on day one")]}])
    camp = Campaign("c1", ["a"], 0.9, "2026-01-01T00:00:00+00:00", None, 5000, atlas_techniques=["AML.T0024.002"])
    write_findings(Findings(acc, [camp], {"detector": "x"}), tmp_path)
    back = read_findings(tmp_path)
    assert back.campaigns == [camp] and back.meta == {"detector": "x"}
    assert back.accounts.column("reasons").to_pylist()[0][0]["detail"] == "5,000 requests on day one"


@pytest.mark.parametrize("row, msg", [
    ({"account_id": "a", "score": 1.5, "verdict": "flag"}, "outside"),
    ({"account_id": "a", "score": 0.5, "verdict": "ban"}, "unknown verdicts"),
])
def test_findings_validation(tmp_path: Path, row: dict, msg: str) -> None:
    with pytest.raises(SchemaError, match=msg):
        write_findings(Findings(account_table([row]), []), tmp_path)


def test_findings_duplicate_and_missing(tmp_path: Path) -> None:
    rows = [{"account_id": "a", "score": 0.1, "verdict": "clear"}] * 2
    with pytest.raises(SchemaError, match="unique"):
        write_findings(Findings(account_table(rows), []), tmp_path)
    with pytest.raises(InputError, match="findings folder"):
        read_findings(tmp_path / "nothing")


def test_config_precedence(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[scoring]\nflag = 0.9\n[detectors.volume]\nweight = 2.0\nparams = { default_daily = 3.0 }\n')
    s = load_config(f, ["scoring.flag=0.95", "detectors.volume.enabled=false", "engine.memory_limit=1GB"])
    assert s.scoring.flag == 0.95 and s.detectors["volume"].weight == 2.0
    assert s.detectors["volume"].enabled is False and s.detectors["volume"].params == {"default_daily": 3.0}
    assert s.engine.memory_limit == "1GB"


@pytest.mark.parametrize("overrides, msg", [(["scoring.flag=2"], "less than or equal"), (["nope"], "section.key=value"),
                                            (["scoring.bogus=1"], "unknown key 'scoring.bogus'")])
def test_config_errors(overrides: list[str], msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load_config(None, overrides)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scoring\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_atlas_ids_and_names_match_reference(atlas_yaml: Path) -> None:
    doc = yaml.safe_load(atlas_yaml.read_text())
    names = {}
    for m in doc["matrices"]:
        for t in m.get("techniques", []) + m.get("mitigations", []):
            names[t["id"]] = t["name"]
    for t in list(atlas.TECHNIQUES.values()) + list(atlas.MITIGATIONS.values()):
        assert names[t.id] == t.name
    assert {c["id"]: c["name"] for c in doc["case-studies"]}[atlas.CASE_STUDY[0]] == atlas.CASE_STUDY[1]
    assert doc["version"] == atlas.ATLAS_VERSION
    ids = atlas.techniques_for(["templating", "metadata", "templating"])
    assert ids[:3] == list(atlas.ALWAYS) and ids.count("AML.T0065") == 1 and "AML.T0021" in ids
