"""The simulated world: determinism, the traffic contract, labels and layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from distillguard.ingest import ingest
from distillguard.schema import ACCOUNTS_SCHEMA, EVENTS_SCHEMA, LABELS_SCHEMA
from distillguard.simulate.personas import BENIGN, CAMPAIGNS
from distillguard.simulate.world import World, generate, write_world


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    a, b = generate("small", seed=11, events=8000), generate("small", seed=11, events=8000)
    for p in a.events:
        assert a.events[p].equals(b.events[p])
        assert a.accounts[p].equals(b.accounts[p])
        assert a.labels[p].equals(b.labels[p])
    write_world(a, tmp_path / "a")
    write_world(b, tmp_path / "b")
    for rel in ("labels.parquet", "alpha/events.parquet", "beta/accounts.parquet", "manifest.json", "scenario.resolved.toml"):
        assert _digest(tmp_path / "a" / rel) == _digest(tmp_path / "b" / rel), rel
    c = generate("small", seed=12, events=8000)
    assert not c.events["alpha"].equals(a.events["alpha"])


def test_layout_and_schemas(small_dir: Path, small_world: World) -> None:
    for rel in ("scenario.resolved.toml", "labels.parquet", "manifest.json"):
        assert (small_dir / rel).exists()
    for p in ("alpha", "beta"):
        assert pq.read_schema(small_dir / p / "events.parquet").equals(EVENTS_SCHEMA)
        assert pq.read_schema(small_dir / p / "accounts.parquet").equals(ACCOUNTS_SCHEMA)
        assert pq.read_schema(small_dir / p / "labels.parquet").equals(LABELS_SCHEMA)
    manifest = json.loads((small_dir / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["corpus"] == "builtin"
    assert manifest["events"] == sum(t.num_rows for t in small_world.events.values())
    assert 50_000 <= manifest["events"] <= 120_000  # the demo world stays small


@pytest.mark.parametrize("kind", ["events", "accounts"])
def test_written_files_pass_ingest_with_nothing_quarantined(small_dir: Path, tmp_path: Path, kind: str) -> None:
    for p in ("alpha", "beta"):
        rep = ingest(small_dir / p / f"{kind}.parquet", kind, tmp_path / p)
        assert rep.quarantined == 0 and rep.used == rep.read > 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_formats_pass_ingest(tmp_path: Path, fmt: str) -> None:
    w = generate("small", seed=2, events=4000)
    write_world(w, tmp_path / "w", fmt)
    name = "events.jsonl.gz" if fmt == "jsonl" else "events.csv"
    rep = ingest(tmp_path / "w" / "alpha" / name, "events", tmp_path / "v")
    assert rep.quarantined == 0 and rep.used == w.events["alpha"].num_rows
    back = pq.read_table(tmp_path / "v" / "events")
    assert back.column("ts").to_pylist() == w.events["alpha"].column("ts").to_pylist()


def test_events_sorted_and_request_ids_unique_across_world(small_world: World) -> None:
    ids: list[str] = []
    for t in small_world.events.values():
        ts = t.column("ts").cast("int64").to_numpy()
        assert np.all(np.diff(ts) >= 0)
        ids.extend(t.column("request_id").to_pylist())
    assert len(ids) == len(set(ids))


def test_labels_cover_every_account(small_world: World) -> None:
    for p, ev in small_world.events.items():
        labelled = set(small_world.labels[p].column("account_id").to_pylist())
        assert set(ev.column("account_id").to_pylist()) == labelled
        assert set(small_world.accounts[p].column("account_id").to_pylist()) == labelled
        lab = small_world.labels[p]
        dist = pc.equal(lab.column("label"), "distillation")
        assert pc.all(pc.is_valid(pc.filter(lab.column("campaign_id"), dist))).as_py()
        assert pc.all(pc.is_null(pc.filter(lab.column("campaign_id"), pc.invert(dist)))).as_py()
        assert set(lab.column("provider").to_pylist()) == {p}


def test_every_persona_and_campaign_type_present_in_small(small_world: World) -> None:
    lab = small_world.all_labels
    personas = set(lab.column("persona").to_pylist())
    assert set(BENIGN) <= personas
    assert set(CAMPAIGNS) <= personas


def test_created_at_precedes_first_request(small_world: World) -> None:
    for p, ev in small_world.events.items():
        first = {}
        for a, t in zip(ev.column("account_id").to_pylist(), ev.column("ts").to_pylist()):
            first.setdefault(a, t)
        acc = small_world.accounts[p]
        for a, c in zip(acc.column("account_id").to_pylist(), acc.column("created_at").to_pylist()):
            assert c <= first[a]


def test_collective_actor_shares_infrastructure_across_providers(collective_world: World) -> None:
    w = collective_world
    per: dict[str, dict[str, set[str]]] = {}
    for p in ("A", "B", "C"):
        lab = w.labels[p]
        mine = {a for a, act in zip(lab.column("account_id").to_pylist(), lab.column("actor_id").to_pylist())
                if act == "actor-collective"}
        assert mine, p
        acc = w.accounts[p]
        cards = {c for a, c in zip(acc.column("account_id").to_pylist(), acc.column("payment_fingerprint").to_pylist())
                 if a in mine and c}
        ev = w.events[p]
        sel = [a in mine for a in ev.column("account_id").to_pylist()]
        sub = ev.filter(sel)
        ips = set(sub.column("ip").to_pylist())
        first = min(sub.column("ts").to_pylist())
        per[p] = {"cards": cards, "ips": ips, "first": {str(first)}}
    assert per["A"]["cards"] & per["B"]["cards"] and per["B"]["cards"] & per["C"]["cards"]
    assert per["A"]["ips"] & per["C"]["ips"]
    # staggered in time: the actor reaches B after A and C after B
    assert min(per["A"]["first"]) < min(per["B"]["first"]) < min(per["C"]["first"])


def test_benign_customers_also_hold_accounts_at_several_providers(collective_world: World) -> None:
    """Cross-provider overlap must not be an attacker-only oracle."""
    w = collective_world
    emails = {}
    for p in ("A", "B", "C"):
        lab = dict(zip(w.labels[p].column("account_id").to_pylist(), w.labels[p].column("label").to_pylist()))
        acc = w.accounts[p]
        emails[p] = {e for a, e in zip(acc.column("account_id").to_pylist(), acc.column("email").to_pylist())
                     if lab[a] == "benign"}
    assert emails["A"] & emails["B"] & emails["C"]


def test_resolved_scenario_reproduces_the_world(tmp_path: Path) -> None:
    from distillguard.simulate.scenario import load_scenario

    w = generate("collective", seed=5, events=6000)
    write_world(w, tmp_path / "w")
    again = generate(load_scenario(tmp_path / "w" / "scenario.resolved.toml"), seed=5)
    for p in w.events:
        assert again.events[p].equals(w.events[p])
