"""A MISP mapping that survives a round trip through MISP's own misp-stix converter.

distillguard bundle -> MISP event (our object templates) -> misp-stix MISP->STIX 2.1 ->
misp-stix STIX 2.1->MISP -> distillguard objects: patterns, validity, categories,
retractions and false-positive opinions all come back, and a member's store believes the
same things as it would from the original bundle.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from distillguard.intel.misp import INDICATOR, bundle_to_misp, misp_to_objects, template
from distillguard.intel.stix import false_positive_opinion, revoke
from distillguard.intel.store import IntelStore

# misp-stix runs in a child process: its STIX 1 dependencies (mixbox) put a `six` importer
# on sys.meta_path that makes every later import in the process warn, which would turn the
# rest of the suite (warnings are errors) red.
_ROUND_TRIP = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import stix2
from misp_stix_converter import InternalSTIX2toMISPParser, MISPtoSTIX21Parser
out = MISPtoSTIX21Parser()
out.parse_misp_event(json.load(open(sys.argv[1])))
stix = json.loads(out.bundle.serialize())
back = InternalSTIX2toMISPParser()
back.load_stix_bundle(stix2.parse(stix, allow_custom=True))
back.parse_stix_bundle()
json.dump({"stix_types": sorted({o["type"] for o in stix["objects"]}),
           "event": json.loads(back.misp_event.to_json())}, open(sys.argv[2], "w"))
"""


def _round_trip(event: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """MISP -> STIX 2.1 -> MISP through the real misp-stix, in a child process."""
    if importlib.util.find_spec("misp_stix_converter") is None:
        pytest.skip("misp-stix is not installed (extra 'interop')")
    (tmp / "in.json").write_text(json.dumps(event))
    r = subprocess.run([sys.executable, "-c", _ROUND_TRIP, str(tmp / "in.json"), str(tmp / "out.json")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp / "out.json").read_text())
    assert "x-misp-object" in doc["stix_types"]  # our objects travelled as MISP objects in STIX
    return {"Event": doc["event"]}


def _view(store: IntelStore) -> dict[str, tuple[Any, ...]]:
    return {i.id: (i.kind, i.value, i.category, i.revoked, i.disputed, i.valid_until, i.confidence)
            for i in store.indicators()}


def test_misp_round_trip_keeps_retractions_and_false_positive_opinions(tmp_path: Path,
                                                                        bundle_a: dict[str, Any]) -> None:
    inds = [o for o in bundle_a["objects"] if o["type"] == "indicator"]
    retracted = revoke(inds[0])
    fp = false_positive_opinion(inds[1]["id"], "provider-b", identity_id="identity--00000000-0000-4000-8000-0000000000bb")
    bundle = {**bundle_a, "objects": bundle_a["objects"] + [retracted, fp]}

    direct = IntelStore(tmp_path / "direct")
    direct.ingest(bundle["objects"])

    event = bundle_to_misp(bundle)
    objs = event["Event"]["Object"]
    assert sum(o["name"] == INDICATOR for o in objs) == len(inds) + 1
    tokens = [a for o in objs for a in o["Attribute"] if a["object_relation"] == "token"]
    assert sum(not a["to_ids"] for a in tokens) >= 1  # the retracted version is not for detection

    back = _round_trip(event, tmp_path)
    via_misp = IntelStore(tmp_path / "misp")
    via_misp.ingest(misp_to_objects(back))
    assert _view(via_misp) == _view(direct)
    v = _view(via_misp)
    assert v[inds[0]["id"]][3] is True and v[inds[1]["id"]][4] is True  # retracted, disputed
    assert all(x[5] is not None for x in v.values())  # valid_until survives
    assert {i.source_org for i in via_misp.indicators()} == {"provider-a"}


def test_shipped_templates_are_valid_misp_object_templates() -> None:
    for name in ("distillguard-indicator", "distillguard-opinion"):
        t = template(name)
        assert t["name"] == name and t["uuid"] and isinstance(t["version"], int)
        assert set(t["required"]) <= set(t["attributes"])
        assert all("misp-attribute" in a for a in t["attributes"].values())


def test_cli_misp_export_and_import(tmp_path: Path, bundle_a: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app

    src = tmp_path / "bundle.json"
    src.write_text(json.dumps(bundle_a))
    runner = CliRunner()
    r = runner.invoke(app, ["intel", "misp", "export", str(src), "--out", str(tmp_path / "event.json")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["intel", "misp", "import", str(tmp_path / "event.json"), "--state", str(tmp_path / "st")])
    assert r.exit_code == 0 and "new" in r.output, r.output
    assert len(IntelStore(tmp_path / "st").indicators()) == sum(o["type"] == "indicator" for o in bundle_a["objects"])
