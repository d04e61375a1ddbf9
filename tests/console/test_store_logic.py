"""The case store, import, decisions, batches, the activity chain, labels, metrics and the graph."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from distillguard.console import activity, auth, decisions, graph, metrics
from distillguard.console.auth import User
from distillguard.console.importer import import_findings, network_of, priority
from distillguard.console.store import CaseStore, QueueFilter
from distillguard.console.words import TACTICS, signal_words, technique
from distillguard.errors import AuditTamperedError, InputError

from . import world
from .conftest import case_id

REV = User("rev", "reviewer")
ANA = User("ana", "analyst")
COMP = User("comp", "compliance")


def _cfg(tmp_path: Path) -> decisions.Settings:
    return decisions.Settings(retractions_dir=tmp_path / "retractions")


def test_import_makes_one_case_per_campaign_and_lone_account(store: CaseStore, acme: dict[str, Path]) -> None:
    total, cases = store.queue(QueueFilter(status="all"))
    refs = sorted(c.ref for c in cases)
    # two campaigns + three flagged/watched accounts outside a campaign; clear customers make no case
    assert total == 5
    assert refs == sorted(["c1", "c2", world.SOLO, world.WATCH, world.XSS_ACCOUNT])
    c1 = store.case(case_id(store, "c1"))
    assert c1 is not None and c1.kind == "campaign" and c1.size == 3 and c1.provider == "acme"
    assert c1.tie == "identity" and "templating" in c1.signals
    assert sorted(a for a, _, _ in store.members(c1.id)) == world.ATTACKERS
    facts = store.facts(c1.id)
    assert facts["email_domain"] == ["mailbox.example"]
    assert "203.0.113.0/24" in facts["network"]
    assert set(c1.data["member_facts"][world.ATTACKERS[0]]) >= {"card", "email_domain", "signup_net", "network", "client"}
    assert c1.data["examples"] and c1.data["examples"][0]["request_id"] == "acme-r1"
    assert sum(n for _, n in c1.data["timeline"]) == 18
    # priority: size lifts score
    assert c1.priority == priority(0.93, 3) > priority(0.93, 1)


def test_reimport_keeps_status_and_history(store: CaseStore, acme: dict[str, Path], tmp_path: Path) -> None:
    cid = case_id(store, "c1")
    decisions.act(store, _cfg(tmp_path), cid, "confirm", REV, reason="hydra")
    rep = import_findings(store, acme["findings"])
    assert rep.new == 0 and rep.updated == 5
    c = store.case(cid)
    assert c is not None and c.status == "confirmed"
    assert [a["type"] for a in activity.rows(store.con, cid)] == ["queue", "confirm"]


def test_filters_search_and_sort(store: CaseStore) -> None:
    def refs(**kw: str) -> list[str]:
        return sorted(c.ref for c in store.queue(QueueFilter(**kw))[1])

    assert refs(kind="campaign") == ["c1", "c2"]
    assert refs(verdict="flag") == sorted(["c1", world.SOLO])
    assert refs(email_domain="uni.example") == ["c2"]
    assert refs(email_domain="@TEMPMAIL.dev") == sorted([world.SOLO, world.WATCH])
    assert refs(network="192.0.2") == ["c2"]
    assert refs(network="203.0.113.0/24") == ["c1"]
    assert refs(signal="automation") == [world.SOLO]
    assert refs(tie="network") == ["c2"]
    assert refs(q=world.ATTACKERS[1]) == ["c1"]           # an account id finds its campaign
    assert refs(q=str(case_id(store, "c2"))) == ["c2"]   # a case number
    assert refs(provider="other") == []
    assert refs(since="2026-03-01", until="2026-03-01") == sorted(["c1", "c2", world.SOLO, world.WATCH, world.XSS_ACCOUNT])
    assert refs(since="2026-03-02") == []
    top = store.queue(QueueFilter(), sort="priority")[1][0]
    assert top.ref == "c1"
    with pytest.raises(InputError):
        QueueFilter.from_params({"status": "bogus"})


def test_actions_transitions_and_roles(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cid = case_id(store, world.SOLO)
    with pytest.raises(PermissionError):
        decisions.act(store, cfg, cid, "confirm", ANA)
    with pytest.raises(PermissionError):
        decisions.act(store, cfg, cid, "note", COMP, note_internal="x")
    o = decisions.act(store, cfg, cid, "assign", ANA, assignee="ana")
    assert (o.status_from, o.status_to) == ("open", "in_review")
    decisions.act(store, cfg, cid, "escalate", ANA, reason="looks bad")
    c = store.case(cid)
    assert c is not None and c.escalated and c.assignee == "ana"
    assert store.queue(QueueFilter())[1][0].id == cid    # escalated first
    o = decisions.act(store, cfg, cid, "confirm", REV, reason="scripted harvest", note_public="account suspended")
    assert o.status_to == "confirmed" and o.guard_queued == 1
    with pytest.raises(decisions.ActionError, match="reopen it first"):
        decisions.act(store, cfg, cid, "dismiss", REV)
    decisions.act(store, cfg, cid, "appeal", ANA, reason="customer says it is their CI", note_public="appeal received")
    o = decisions.act(store, cfg, cid, "dismiss", REV, reason="their CI pipeline")
    assert (o.status_from, o.status_to) == ("appealed", "dismissed")
    rows = store.query("SELECT verdict FROM guard_outbox WHERE case_id=? ORDER BY id", (cid,))
    assert [r[0] for r in rows] == ["confirmed", "false_positive"]
    types = [a["type"] for a in activity.rows(store.con, cid)]
    assert types == ["queue", "assign", "escalate", "confirm", "appeal", "dismiss"]
    with pytest.raises(InputError):
        decisions.act(store, cfg, cid, "note", ANA)      # a note needs text
    with pytest.raises(InputError):
        decisions.act(store, cfg, cid, "explode", REV)


def test_allowlist_and_reopen(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cid = case_id(store, "c2")
    decisions.act(store, cfg, cid, "allowlist", REV, reason="university seats")
    assert sorted(r[0] for r in store.query("SELECT account_id FROM allowlist")) == world.CLASS
    decisions.act(store, cfg, cid, "reopen", REV, reason="new evidence")
    assert store.query("SELECT count(*) FROM allowlist")[0][0] == 0
    verdicts = [r[0] for r in store.query("SELECT DISTINCT verdict FROM guard_outbox WHERE case_id=? ORDER BY id", (cid,))]
    assert verdicts == ["false_positive", "reopen"]


def test_batch_dry_run_apply_and_undo(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    f = QueueFilter(kind="account")
    before = {c.id: c.status for c in store.queue(QueueFilter(status="all"))[1]}
    p = decisions.preview(store, f, "dismiss")
    assert len(p.eligible) == 3 and p.skipped == 0
    assert {c.id: c.status for c in store.queue(QueueFilter(status="all"))[1]} == before   # dry run changed nothing
    with pytest.raises(PermissionError):
        decisions.apply_batch(store, cfg, f, "dismiss", ANA, p.token, reason="x")
    with pytest.raises(InputError, match="reason"):
        decisions.apply_batch(store, cfg, f, "dismiss", REV, p.token)
    # the queue changes after the preview: applying the stale preview is refused
    decisions.act(store, cfg, case_id(store, world.SOLO), "confirm", REV)
    with pytest.raises(decisions.ActionError, match="preview again"):
        decisions.apply_batch(store, cfg, f, "dismiss", REV, p.token, reason="noise")
    f = QueueFilter(kind="account", status="all")      # the confirmed case matches but is left alone
    p = decisions.preview(store, f, "dismiss")
    assert len(p.eligible) == 2 and p.skipped == 1
    batch_id, outs = decisions.apply_batch(store, cfg, f, "dismiss", REV, p.token, reason="noise")
    assert len(outs) == 2 and all(o.status_to == "dismissed" for o in outs)
    undone = decisions.undo_batch(store, cfg, batch_id, REV)
    assert sorted(o.case_id for o in undone) == sorted(p.eligible)
    assert all(store.case(i).status == "reopened" for i in p.eligible)   # type: ignore[union-attr]
    assert store.case(case_id(store, world.SOLO)).status == "confirmed"  # type: ignore[union-attr]
    with pytest.raises(decisions.ActionError, match="already undone"):
        decisions.undo_batch(store, cfg, batch_id, REV)
    b = decisions.batch(store, batch_id)
    assert b is not None and b["undone_by"] == "rev" and b["filter"] == {"kind": "account", "status": "all"}
    # the activity log ties every step to the batch
    acts = [a for a in activity.rows(store.con) if a["batch_id"] == batch_id]
    assert sorted(a["type"] for a in acts) == ["dismiss", "dismiss", "reopen", "reopen"]


def test_activity_chain_append_only_and_tamper_evident(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cid = case_id(store, "c1")
    decisions.act(store, cfg, cid, "note", ANA, note_internal="internal remark", note_public="public remark")
    rep = activity.verify(store.con)
    assert rep.entries == 6
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.con.execute("UPDATE activities SET reason='forged' WHERE seq=2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.con.execute("DELETE FROM activities WHERE seq=6")
    out = tmp_path / "log.jsonl"
    exp = activity.export_jsonl(store.con, out)
    assert exp.head == rep.head and activity.verify_jsonl(out, expect_head=rep.head).entries == 6
    lines = out.read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["note_internal"] == "internal remark" and last["actor"] == "ana" and last["type"] == "note"
    # edit a line of the export: caught
    forged = lines[:]
    e = json.loads(forged[2])
    e["reason"] = "forged"
    forged[2] = json.dumps(e)
    (tmp_path / "forged.jsonl").write_text("\n".join(forged) + "\n")
    with pytest.raises(AuditTamperedError, match="modified"):
        activity.verify_jsonl(tmp_path / "forged.jsonl")
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    with pytest.raises(AuditTamperedError, match="chain broken"):
        activity.verify_jsonl(tmp_path / "cut.jsonl")
    with pytest.raises(AuditTamperedError, match="anchored"):
        activity.verify_jsonl(tmp_path / "log.jsonl", expect_head="0" * 64)
    # someone edits the database behind the application's back (drops the trigger): caught
    store.con.execute("DROP TRIGGER activities_no_update")
    store.con.execute("UPDATE activities SET actor='mallory' WHERE seq=3")
    with pytest.raises(AuditTamperedError, match="activity 3"):
        activity.verify(store.con)


def test_labels_follow_latest_decision(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    decisions.act(store, cfg, case_id(store, "c1"), "confirm", REV)
    decisions.act(store, cfg, case_id(store, "c2"), "dismiss", REV)
    solo = case_id(store, world.SOLO)
    decisions.act(store, cfg, solo, "confirm", REV)
    decisions.act(store, cfg, solo, "reopen", REV)
    t = decisions.labels(store)
    got = dict(zip(t.column("account_id").to_pylist(), t.column("label").to_pylist()))
    assert got == {**{a: "distillation" for a in world.ATTACKERS}, **{a: "benign" for a in world.CLASS}}
    from distillguard.cli.train import _read_labels

    p = tmp_path / "labels.parquet"
    import pyarrow.parquet as pq

    pq.write_table(t, p)
    assert _read_labels(p).num_rows == 6   # what `distillguard train --labels` reads
    assert _read_labels(Path(store.path)).num_rows == 6   # or the case store itself


def test_outcome_metrics_and_prometheus(store: CaseStore, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    decisions.act(store, cfg, case_id(store, "c1"), "confirm", REV)
    c2 = case_id(store, "c2")
    decisions.act(store, cfg, c2, "confirm", REV)
    decisions.act(store, cfg, c2, "appeal", ANA)
    decisions.act(store, cfg, c2, "dismiss", REV)
    decisions.act(store, cfg, case_id(store, world.SOLO), "assign", ANA)
    o = metrics.outcomes(store)
    assert o.by_status["confirmed"] == 1 and o.by_status["dismissed"] == 1 and o.by_status["in_review"] == 1
    assert len(o.triage_s) == 3 and len(o.decision_s) == 2
    assert o.fp_by_signal["templating"] == (0, 1) and o.fp_by_signal["volume"] == (1, 1)
    assert o.appeals == {"opened": 1, "granted": 1}
    text = metrics.prometheus(o)
    assert 'distillguard_console_cases{status="confirmed"} 1' in text
    assert 'distillguard_console_false_positive_ratio{signal="volume"} 1' in text
    assert 'distillguard_console_appeals_total{outcome="granted"} 1' in text
    assert "distillguard_console_time_to_decision_seconds_count 2" in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_graph_aggregates_500_members() -> None:
    members = {f"m{i}": {"card": f"card{i % 15}", "email_domain": "qq.com" if i % 3 else "mail.example",
                         "network": f"10.0.{i % 40}.0/24", "client": "scraper/2"} for i in range(500)}
    g = graph.build(members, {a: 0.8 for a in members})
    assert g.members == 500 and sum(len(x.members) for x in g.groups) == 500
    assert len(g.groups) <= graph.MAX_GROUPS and len(g.facts) <= graph.MAX_FACTS
    svg = graph.svg(g)
    assert svg.startswith("<svg") and svg.count("<circle") == len(g.groups) and svg.count("<rect") == len(g.facts)
    # attacker text in a fact is escaped
    g2 = graph.build({"a": {"client": world.XSS}, "b": {"client": world.XSS}}, {})
    assert "<script>" not in graph.svg(g2) and "&lt;script&gt;" in graph.svg(g2)


def test_words_and_atlas_names(atlas_yaml: Path) -> None:
    import yaml

    doc = yaml.safe_load(atlas_yaml.read_text())
    names = {t["id"]: t["name"] for m in doc["matrices"] for t in m["tactics"]}
    for tid, name in TACTICS.items():
        assert names[tid] == name
    t = technique("AML.T0024.002")
    assert t["name"] == "Extract AI Model" and t["tactic"] == "Exfiltration (AML.TA0010)"
    assert "harvesting" in signal_words("gate") and signal_words("signal_volume").startswith("members' mean score")
    assert technique("AML.T9999")["name"].startswith("(not in")


def test_network_of_and_bad_db_path(tmp_path: Path) -> None:
    assert network_of("203.0.113.7") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not an ip") is None
    with pytest.raises(InputError, match="does not exist"):
        CaseStore(tmp_path / "missing" / "cases.sqlite")


def test_passwords_are_hashed_and_checked(store: CaseStore) -> None:
    h = store.query("SELECT pw_hash FROM users WHERE name='rev'")[0][0]
    assert h.startswith("$argon2id$") and "staple" not in h
    assert auth.authenticate(store, "rev", "correct horse battery staple") == User("rev", "reviewer")
    assert auth.authenticate(store, "rev", "wrong password here") is None
    assert auth.authenticate(store, "nobody", "correct horse battery staple") is None
    with pytest.raises(InputError, match="at least"):
        auth.add_user(store, "x", "analyst", "short")
    with pytest.raises(InputError, match="role"):
        auth.add_user(store, "x", "admin", "long enough password")


def test_allowlisted_accounts_are_not_queued_again(store: CaseStore, acme: dict[str, Path], tmp_path: Path) -> None:
    """The customer's own bots, allowlisted once, do not come back as open cases from a later scan."""
    import shutil

    decisions.act(store, _cfg(tmp_path), case_id(store, world.WATCH), "allowlist", REV, reason="their uptime probe")
    later = tmp_path / "later-findings"
    shutil.copytree(acme["findings"], later)       # a later scan flags the same accounts again
    rep = import_findings(store, later)
    assert rep.new == 5 and rep.allowlisted == 1
    again = [c for c in store.queue(QueueFilter(status="all", q=world.WATCH))[1] if c.source_path == str(later.resolve())]
    assert len(again) == 1 and again[0].status == "dismissed" and again[0].decision == "allowlist"
    assert [a["actor"] for a in activity.rows(store.con, again[0].id)] == ["import", "import"]
    assert len(metrics.outcomes(store).decision_s) == 1      # the automatic closure is not a human decision
