"""The console over real HTTP on 127.0.0.1: sessions, CSRF, roles, escaping, the guard, intel, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from distillguard.cli import app as cli
from distillguard.console import activity
from distillguard.console.store import CaseStore
from distillguard.intel.stix import stable_id

from . import world
from .conftest import PASSWORD, Console, case_id, guard_account, guard_event

PAYLOAD_MARKERS = ("<script>alert", "<img src=x onerror", "<svg onload", "onerror=alert(1)>")


def _act(c: httpx.Client, case: int, action: str, **form: str) -> httpx.Response:
    return c.post(f"/cases/{case}/action", data={"csrf": Console.csrf(c), "action": action, **form})


def test_no_session_means_login(console: Console, store: CaseStore) -> None:
    anon = console.client()
    cid = case_id(store, "c1")
    for path in ("/cases", f"/cases/{cid}", "/audit", "/audit/export.jsonl", "/outcomes", "/batches",
                 "/batch?action=dismiss", "/find?ref=c1"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    r = anon.post(f"/cases/{cid}/action", data={"action": "confirm", "csrf": "x"})
    assert r.status_code == 401
    r = anon.post("/batch", data={"action": "dismiss"})
    assert r.status_code == 401
    # a forged or expired cookie is no session either
    anon.cookies.set("dg_console", "forged-token")
    assert anon.get(f"/cases/{cid}").status_code == 303
    assert store.case(cid).status == "open"  # type: ignore[union-attr]


def test_login(console: Console) -> None:
    c = console.client()
    r = c.get("/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert c.post("/login", data={"csrf": pre, "user": "rev", "password": "wrong one entirely"}).status_code == 401
    r = c.get("/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    # login without the pre-session token (login CSRF) is refused
    assert c.post("/login", data={"csrf": "nope", "user": "rev", "password": PASSWORD}).status_code == 403
    r = c.post("/login", data={"csrf": pre, "user": "rev", "password": PASSWORD, "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/cases"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert c.get("/cases").status_code == 200
    assert c.post("/logout", data={"csrf": Console.csrf(c)}).status_code == 303
    assert c.get("/cases").status_code == 303
    # guessing: five wrong passwords lock the name out for ten minutes, even with the right one
    for _ in range(5):
        pre = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        assert c.post("/login", data={"csrf": pre, "user": "ana", "password": "guess guess guess"}).status_code == 401
    pre = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    assert c.post("/login", data={"csrf": pre, "user": "ana", "password": PASSWORD}).status_code == 429


def test_csrf(console: Console, store: CaseStore) -> None:
    c = console.client("rev")
    cid = case_id(store, "c1")
    assert c.post(f"/cases/{cid}/action", data={"action": "confirm"}).status_code == 403
    assert c.post(f"/cases/{cid}/action", data={"action": "confirm", "csrf": "guessed"}).status_code == 403
    assert c.post(f"/cases/{cid}/action", json={"action": "confirm"}).status_code in (403, 415)
    other = console.client("ana")   # another user's token is not this session's
    assert c.post(f"/cases/{cid}/action", data={"action": "confirm", "csrf": Console.csrf(other)}).status_code == 403
    assert c.post("/batch", data={"action": "dismiss", "token": "x", "reason": "r"}).status_code == 403
    assert store.case(cid).status == "open"  # type: ignore[union-attr]
    assert _act(c, cid, "confirm", reason="ok").status_code == 303
    assert store.case(cid).status == "confirmed"  # type: ignore[union-attr]


def test_roles(console: Console, store: CaseStore) -> None:
    ana, comp, rev = console.client("ana"), console.client("comp"), console.client("rev")
    cid = case_id(store, world.SOLO)
    r = _act(ana, cid, "confirm")
    assert r.status_code == 403 and "analyst role cannot confirm" in r.text
    assert _act(comp, cid, "note", note_internal="hi").status_code == 403
    assert ana.get("/audit").status_code == 403
    assert ana.get("/audit/export.jsonl").status_code == 403
    assert comp.get("/audit").status_code == 200 and rev.get("/audit").status_code == 200
    assert comp.get(f"/cases/{cid}").status_code == 200          # compliance reads
    assert "do-confirm" not in comp.get(f"/cases/{cid}").text   # and gets no action buttons
    assert comp.get("/batch?action=dismiss").status_code == 403
    p = ana.get("/batch?action=dismiss&kind=account")
    assert p.status_code == 200 and "batch-apply" not in p.text   # analysts preview, reviewers apply
    tok = re.search(r'name="token" value="([^"]+)"', rev.get("/batch?action=dismiss&kind=account").text).group(1)  # type: ignore[union-attr]
    r = ana.post("/batch", data={"csrf": Console.csrf(ana), "action": "dismiss", "token": tok, "reason": "x",
                                 "kind": "account"})
    assert r.status_code == 403
    assert _act(ana, cid, "note", note_internal="triaged").status_code == 303
    assert store.case(cid).status == "open"  # type: ignore[union-attr]


def test_xss_in_every_field(console: Console, store: CaseStore) -> None:
    ana, rev, comp = console.client("ana"), console.client("rev"), console.client("comp")
    ids = [case_id(store, r) for r in ("c1", "c2", world.SOLO, world.WATCH, world.XSS_ACCOUNT)]
    for cid in ids:
        assert _act(ana, cid, "note", note_internal=world.XSS, note_public=world.XSS, reason=world.XSS).status_code == 303
        assert _act(ana, cid, "assign", assignee='x"><script>alert(3)</script>').status_code == 400
        assert _act(ana, cid, "escalate", reason=world.XSS).status_code == 303
    p = rev.get("/batch?action=dismiss&kind=account")
    tok = re.search(r'name="token" value="([^"]+)"', p.text).group(1)  # type: ignore[union-attr]
    r = rev.post("/batch", data={"csrf": Console.csrf(rev), "action": "dismiss", "token": tok, "kind": "account",
                                 "reason": world.XSS, "note_public": world.XSS})
    assert r.status_code == 303
    batch_page = r.headers["location"].split("?")[0]
    pages = ["/cases", "/cases?status=all", f"/cases?status=all&q={world.XSS}", f"/cases?email_domain={world.XSS}",
             "/batch?action=confirm&status=all", "/batches", batch_page, "/audit", "/outcomes",
             f"/find?ref={world.XSS}"] + [f"/cases/{i}" for i in ids]
    for client in (rev, comp):
        for path in pages:
            r = client.get(path)
            assert r.status_code in (200, 403, 404), (path, r.status_code)   # compliance may not preview
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
            for m in PAYLOAD_MARKERS:
                assert m not in r.text, (path, m)
    page = rev.get(f"/cases/{case_id(store, 'c1')}").text
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in page   # shown as text: prompts, summary, notes
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 3
    acc_page = rev.get(f"/cases/{case_id(store, world.XSS_ACCOUNT)}").text
    assert "acme-&#34;&gt;&lt;svg onload=alert(2)&gt;" in acc_page      # the account id itself
    # the export carries the notes verbatim (it is data, not a page)
    exp = comp.get("/audit/export.jsonl")
    assert exp.headers["content-type"].startswith("application/x-ndjson")
    assert any(json.loads(line).get("note_internal") == world.XSS for line in exp.text.splitlines())


def test_find_metrics_healthz(console: Console, store: CaseStore) -> None:
    rev = console.client("rev")
    r = rev.get(f"/find?ref={world.ATTACKERS[2]}")
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id(store, 'c1')}"
    assert rev.get("/find?ref=nobody").status_code == 404
    assert rev.get("/cases/99999").status_code == 404
    assert rev.get("/cases?status=bogus").status_code == 400
    m = httpx.get(console.url + "/metrics")
    assert m.status_code == 200 and 'distillguard_console_cases{status="open"} 5' in m.text
    assert httpx.get(console.url + "/healthz").json()["cases"] == 5


def test_decisions_reach_the_guard(console_with_guard: tuple[Console, str], store: CaseStore) -> None:
    console, guard = console_with_guard
    rev = console.client("rev")
    solo = case_id(store, world.SOLO)
    before = guard_event(guard, world.SOLO, 1)
    assert before["action"] == "allow"
    assert _act(rev, solo, "confirm", reason="scripted harvest").status_code == 303
    assert guard_account(guard, world.SOLO)["override"] == "confirmed"
    after = guard_event(guard, world.SOLO, 2)
    assert after["action"] == "block" and any("confirmed" in r for r in after["reasons"])
    page = rev.get(f"/cases/{solo}").text
    assert "guard feedback: 1 delivered, 0 pending" in page
    assert re.search(r"<td>acme-solo</td><td>block</td><td>confirmed</td>", page)   # the guard's live view
    # reopen lifts the override: the guard decides from live evidence again
    assert _act(rev, solo, "reopen", reason="customer appeal upheld").status_code == 303
    assert guard_account(guard, world.SOLO)["override"] is None
    # dismissal of a campaign: every member becomes allow
    c1 = case_id(store, "c1")
    for i, a in enumerate(world.ATTACKERS):
        guard_event(guard, a, 10 + i)
    assert _act(rev, c1, "dismiss", reason="our own load test").status_code == 303
    assert all(guard_account(guard, a)["override"] == "false_positive" for a in world.ATTACKERS)
    assert store.pending_deliveries() == 0


def test_guard_down_keeps_decisions_queued(store: CaseStore, tmp_path: Path) -> None:
    from distillguard.console import decisions
    from distillguard.testing.server import free_port

    cfg = decisions.Settings(guard_url=f"http://127.0.0.1:{free_port()}", guard_token="x" * 20)
    c = Console(store, cfg)
    try:
        rev = c.client("rev")
        assert _act(rev, case_id(store, "c1"), "confirm").status_code == 303
        assert store.pending_deliveries() == 3
        page = rev.get("/cases").text
        assert "3 decision(s) not yet delivered to the guard" in page
        row = store.query("SELECT error, attempts FROM guard_outbox WHERE error IS NOT NULL LIMIT 1")[0]
        assert "Connect" in row[0] and row[1] >= 1
    finally:
        c.stop()


def _export(tmp_path: Path, acme: dict[str, Path], db: Path, out: Path) -> object:
    runner = CliRunner()
    ring = tmp_path / "ring.toml"
    if not ring.exists():
        assert runner.invoke(cli, ["intel", "keygen", "--out", str(ring)]).exit_code == 0
    return runner.invoke(cli, ["intel", "export", str(acme["findings"]), "--cases", str(db), "--events",
                               str(acme["events"]), "--accounts", str(acme["accounts"]), "--keyring", str(ring),
                               "--org", "acme", "--id-key", str(tmp_path / "id.key"), "--out", str(out)])


def test_intel_export_takes_confirmed_cases_and_dismissal_retracts(console: Console, store: CaseStore,
                                                                   acme: dict[str, Path], tmp_path: Path) -> None:
    rev, ana = console.client("rev"), console.client("ana")
    db = Path(store.path)
    r = _export(tmp_path, acme, db, tmp_path / "none.json")
    assert r.exit_code == 2 and "nothing to share" in r.output   # type: ignore[attr-defined]
    c1 = case_id(store, "c1")
    assert _act(rev, c1, "confirm", reason="hydra").status_code == 303
    assert _act(rev, case_id(store, "c2"), "dismiss", reason="a classroom").status_code == 303
    out = tmp_path / "bundle.json"
    r = _export(tmp_path, acme, db, out)
    assert r.exit_code == 0, r.output   # type: ignore[attr-defined]
    bundle = json.loads(out.read_text())
    key = bytes.fromhex((tmp_path / "id.key").read_text().strip())
    camps = [o for o in bundle["objects"] if o["type"] == "campaign"]
    assert [o["id"] for o in camps] == [stable_id("campaign", "acme", "c1", key=key)]   # only the confirmed case
    shared = store.query("SELECT indicator_id FROM shared WHERE case_id=?", (c1,))
    inds = {o["id"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert shared and {s for (s,) in shared} <= inds
    assert "share" in [a["type"] for a in activity.rows(store.con, c1)]
    # the customer appeals, a reviewer grants it: the dismissal revokes what was shared
    assert _act(ana, c1, "appeal", note_public="we are a research lab").status_code == 303
    r2 = _act(rev, c1, "dismiss", reason="appeal granted")
    assert r2.status_code == 303 and "retraction" in r2.headers["location"]
    files = list((tmp_path / "retractions").glob("retraction-case-*.json"))
    assert len(files) == 1
    ret = json.loads(files[0].read_text())
    revoked = [o for o in ret["objects"] if o["type"] == "indicator"]
    assert {o["id"] for o in revoked} == {s for (s,) in shared} and all(o["revoked"] for o in revoked)
    from distillguard.intel.policy import check_bundle, load_policy

    assert check_bundle(ret, load_policy()) == []
    assert "retract" in [a["type"] for a in activity.rows(store.con, c1)]
    r = _export(tmp_path, acme, db, tmp_path / "again.json")
    assert r.exit_code == 2   # type: ignore[attr-defined]
    # --confirmed still works, and exactly one of the two is required
    conf = tmp_path / "confirmed.txt"
    conf.write_text("c1\n")
    ring = tmp_path / "ring.toml"
    runner = CliRunner()
    base = ["intel", "export", str(acme["findings"]), "--events", str(acme["events"]), "--keyring", str(ring),
            "--org", "acme", "--out", str(tmp_path / "b2.json")]
    assert runner.invoke(cli, base + ["--confirmed", str(conf)]).exit_code == 0
    assert runner.invoke(cli, base).exit_code == 2


def test_cli_users_import_labels_log(tmp_path: Path, acme: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    db = tmp_path / "cli.sqlite"
    r = runner.invoke(cli, ["console", "import", str(acme["findings"]), "--db", str(db)])
    assert r.exit_code == 0 and "5 new case(s)" in r.output
    r = runner.invoke(cli, ["console", "user", "add", "rev", "--role", "reviewer", "--db", str(db)], input="")
    assert r.exit_code == 2 and "no password" in r.output
    r = runner.invoke(cli, ["console", "user", "add", "rev", "--role", "reviewer", "--db", str(db), "--password-stdin"],
                      input="short\n")
    assert r.exit_code == 2 and "at least" in r.output
    monkeypatch.setenv("DISTILLGUARD_CONSOLE_PASSWORD", PASSWORD)
    assert runner.invoke(cli, ["console", "user", "add", "rev", "--role", "reviewer", "--db", str(db)]).exit_code == 0
    r = runner.invoke(cli, ["console", "user", "list", "--db", str(db)])
    assert "rev\treviewer" in r.output
    from distillguard.console import decisions
    from distillguard.console.auth import User

    s = CaseStore(db)
    decisions.act(s, decisions.Settings(), case_id(s, "c1"), "confirm", User("rev", "reviewer"))
    s.close()
    r = runner.invoke(cli, ["console", "labels", "--db", str(db), "--out", str(tmp_path / "labels.parquet")])
    assert r.exit_code == 0 and "3 account(s), 3 distillation" in r.output
    r = runner.invoke(cli, ["console", "log", "export", "--db", str(db), "--out", str(tmp_path / "log.jsonl")])
    assert r.exit_code == 0
    head = r.output.split("head ")[-1].split()[0]
    assert runner.invoke(cli, ["console", "log", "verify", str(tmp_path / "log.jsonl"), "--head", head]).exit_code == 0
    assert runner.invoke(cli, ["console", "log", "verify", "--db", str(db)]).exit_code == 0
    assert runner.invoke(cli, ["console", "log", "verify", str(tmp_path / "log.jsonl"), "--head", "0" * 64]).exit_code == 2
    r = runner.invoke(cli, ["console", "labels", "--db", str(tmp_path / "missing.sqlite"), "--out", "x.parquet"])
    assert r.exit_code == 2 and "no case store" in r.output
    assert "findings" in runner.invoke(cli, ["console", "serve", "--help"]).output.lower()


def test_console_command_serves(tmp_path: Path, acme: dict[str, Path]) -> None:
    """`distillguard console FINDINGS --db DB --port P` imports and serves (a real subprocess)."""
    import os
    import subprocess
    import sys

    from distillguard.testing.server import free_port, wait_until_healthy

    port = free_port()
    db = tmp_path / "served.sqlite"
    p = subprocess.Popen([sys.executable, "-c", "from distillguard.cli import main; main()", "console",
                          str(acme["findings"]), "--db", str(db), "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert wait_until_healthy(f"http://127.0.0.1:{port}"), "console did not start"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["cases"] == 5
        r = httpx.get(f"http://127.0.0.1:{port}/cases")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    finally:
        p.terminate()
        _, err = p.communicate(timeout=20)
    assert b"no console user yet" in err and b"5 new case(s)" in err


def test_intel_matches_on_the_case_page(console: Console, store: CaseStore, tmp_path: Path,
                                        acme: dict[str, Path]) -> None:
    """Intel from other members shows on the case with its corroboration; its text is escaped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distillguard.console.importer import import_findings

    m = tmp_path / "matches.parquet"
    pq.write_table(pa.table({
        "account_id": [world.ATTACKERS[1], world.USERS[0]], "indicator_id": ["indicator--1", "indicator--2"],
        "kind": ["payment", "ip"], "confidence": [80, 20], "corroboration": [2.4, 0.5],
        "category": ["confirmed", "confirmed"], "revoked": [False, True], "disputed": [False, False],
        "source_org": ["provider-b", "provider-c"], "evidence": [f"card shared by provider-b {world.XSS}", "ip"]}), m)
    import_findings(store, acme["findings"], m)
    page = console.client("rev").get(f"/cases/{case_id(store, 'c1')}").text
    table = page.split('id="intel"')[1].split("</table>")[0]
    assert "indicator--1" in table and "provider-b" in table and "2.40 org(s)" in table
    assert "indicator--2" not in table                 # a customer outside the case
    assert "<script>alert" not in page and "card shared by provider-b &lt;script&gt;" in table
