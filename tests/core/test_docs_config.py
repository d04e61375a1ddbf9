"""docs/configuration.md is generated from the typed settings; this fails when they drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.config import Settings, load_config, render_docs
from distillguard.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_md_is_generated_from_the_code() -> None:
    assert DOC.read_text() == render_docs(), (
        "docs/configuration.md differs from the settings: run `python -m distillguard.config > docs/configuration.md`")


def test_every_key_is_documented() -> None:
    text = DOC.read_text()
    for sec, f in Settings.model_fields.items():
        if sec == "detectors":
            continue
        for key in f.annotation.model_fields:  # type: ignore[union-attr]
            assert f"`{sec}.{key}`" in text or f"`[{sec}.{key}]`" in text, f"{sec}.{key}"
    assert "campaign_inherit_floor" in text and "reference_population" in text


@pytest.mark.parametrize("override, hint", [
    ('service.findngs_dir="x"', "did you mean 'findings_dir'"),
    ('intel.orgg="acme"', "did you mean 'org'"),
    ('hub.database_url="x"', "did you mean 'database'"),
    ("intel.trust.min_corroberation=2.0", "did you mean 'min_corroboration'"),
    ("ingest.naive_timzone='UTC'", "did you mean 'naive_timezone'"),
    ("detectors.reasonin.weight=1.0", "unknown detector 'reasonin' in [detectors]; did you mean 'reasoning'"),
    ("detectors.volume.params={default_dayly=3.0}", "did you mean 'default_daily'"),
    ("detectors.volume.wieght=2.0", "did you mean 'weight'"),
])
def test_unknown_keys_are_errors_everywhere(override: str, hint: str) -> None:
    with pytest.raises(ConfigError, match="unknown") as e:
        load_config(None, [override])
    assert hint in str(e.value)


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "scan.toml"
    f.write_text("[service]\nfindngs_dir = 'x'\n")
    with pytest.raises(ConfigError, match=r"scan.toml.*findings_dir"):
        load_config(f)


def test_intel_and_hub_sections_are_typed() -> None:
    s = load_config(None, ['intel.org="acme"', "intel.trust.shadow=true", 'hub.title="h"'])
    assert s.intel.org == "acme" and s.intel.trust.shadow is True and s.hub.title == "h"
