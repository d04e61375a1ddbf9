"""Issue 10 probes 4 and 5 on the member side: ids belong to their first creator, and ids
cannot be predicted by other members."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distillguard.intel.export import export_campaigns
from distillguard.intel.policy import load_policy
from distillguard.intel.stix import ExportOptions, revoke, stable_id
from distillguard.intel.store import IntelStore

from . import world


def test_probe4_foreign_revocation_is_refused_at_the_member_store(tmp_path: Path, bundle_a: dict[str, Any]) -> None:
    store_c = IntelStore(tmp_path / "c")
    store_c.ingest(bundle_a["objects"])
    ind = next(o for o in bundle_a["objects"] if o["type"] == "indicator")
    # member B re-posts A's indicator id, revoked, under its own name (e.g. in another collection)
    forged = dict(revoke(ind), created_by_ref="identity--00000000-0000-4000-8000-00000000000b")
    delta = store_c.ingest([forged])
    assert delta.retracted == [] and len(delta.refused) == 1 and ind["id"] in delta.refused[0]
    view = {v.id: v for v in store_c.indicators()}[ind["id"]]
    assert not view.revoked
    # the genuine author can still retract it
    assert store_c.ingest([revoke(ind)]).retracted == [ind["id"]]
    log = (tmp_path / "c" / "retractions.jsonl").read_text().splitlines()
    assert any(json.loads(line)["what"] == "refused" for line in log)


def test_probe5_ids_are_unpredictable_to_other_members(worlds: dict[str, Any], bundle_a: dict[str, Any]) -> None:
    inds = [o for o in bundle_a["objects"] if o["type"] == "indicator"]
    # what a rival could compute before: a hash of org name + pattern (both known to it)
    guesses = {stable_id("indicator", "provider-a", o["pattern"]) for o in inds}
    assert not guesses & {o["id"] for o in inds}

    def ids(key: bytes) -> set[str]:
        b, _ = export_campaigns(worlds["findings_a"], ["c1"], worlds["a"]["events"], worlds["a"]["accounts"],
                                world.keyring(), ExportOptions(org="provider-a", id_key=key), load_policy(),
                                oprf=world.oprf())
        return {o["id"] for o in b["objects"] if o["type"] in ("indicator", "campaign", "sighting")}

    assert ids(b"k" * 32) == ids(b"k" * 32)  # same id key: a re-export updates the same objects
    assert not ids(b"k" * 32) & ids(b"j" * 32)


def test_probe12_member_store_pins_identity_names(tmp_path: Path, bundle_a: dict[str, Any]) -> None:
    store = IntelStore(tmp_path / "s")
    store.ingest(bundle_a["objects"])
    ident = next(o for o in bundle_a["objects"] if o["type"] == "identity" and o["name"] == "provider-a")
    renamed = dict(ident, name="provider-b", modified="2099-01-01T00:00:00.000Z")
    delta = store.ingest([renamed])
    assert len(delta.refused) == 1 and "name" in delta.refused[0]
    assert {i.source_org for i in store.indicators()} == {"provider-a"}
