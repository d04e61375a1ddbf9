"""Crash safety and slow stores: SIGKILL keeps decisions; a stalled store cannot stall answers."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from distillguard.service.state import Journal, MemoryStore, SlowStore, SQLiteStore, read_journal

from .conftest import Proc, thread_server
from .worlds import T0, event, harvester


def _send(c: httpx.Client, evs: list[dict]) -> list[dict]:
    out = []
    for i in range(0, len(evs), 50):
        r = c.post("/v1/events", json={"events": evs[i:i + 50]})
        assert r.status_code == 200, r.text
        out += r.json()["decisions"]
    return out


def _wait_for_flush(db: Path, account_id: str, limit_s: float = 15.0) -> None:
    """Poll the store (WAL allows a reader beside the writer) instead of sleeping a fixed time."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                if con.execute("SELECT 1 FROM state WHERE account_id = ?", (account_id,)).fetchone():
                    return
            finally:
                con.close()
        except sqlite3.OperationalError:
            continue
    raise AssertionError(f"no flush of {account_id} within {limit_s} s")


def test_sigkill_and_restart_keep_state_and_decisions(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    sets = [f"service.state_path='{db}'", "service.flush_interval_s=0.3"]
    p = Proc(sets)
    try:
        with p.client() as c:
            dec = _send(c, harvester("kx", 600))
            _wait_for_flush(db, "kx")  # at least one flush: the state is on disk
            # decisions after the last flush exist only in the journal when we kill
            last = c.post("/v1/events", json=harvester("kx", 1, start=T0 + 1200)[0] | {"request_id": "kx-last"}).json()
            fb = c.post("/v1/feedback", json={"account_id": "other", "verdict": "confirmed"})
            assert fb.status_code == 200
    finally:
        p.kill()
    assert dec[-1]["action"] != "allow"
    p2 = Proc(sets)
    try:
        with p2.client() as c:
            view = c.get("/v1/accounts/kx").json()
            assert view["events"] >= 300  # state lost at most the last flush interval
            assert view["history"][-1]["request_id"] == "kx-last"  # the journalled decision survived
            assert view["history"][-1]["action"] == last["action"]
            d = c.post("/v1/events", json=event("kx-after", "kx", T0 + 700, "hello")).json()
            assert d["action"] != "allow"  # the hold survives the crash
            assert c.post("/v1/events", json=event("o1", "other", T0, "hi")).json()["action"] == "block"
        assert p2.terminate() in (0, -15)  # graceful shutdown (uvicorn re-raises SIGTERM after it) flushes
    finally:
        if p2.p.poll() is None:
            p2.kill()
    store = SQLiteStore(db)
    n = store.con.execute("SELECT count(*) FROM decisions WHERE account_id='kx'").fetchone()[0]
    assert n == 602
    assert [f["verdict"] for f in store.feedback()] == ["confirmed"]
    store.close()
    assert not list(tmp_path.glob("state.db.journal.*.done"))


def _slow_store(delay: float) -> SlowStore:
    inner = MemoryStore()
    inner.commit([], [{"id": "d0", "account_id": "known", "ts": T0, "action": "allow", "score": 0.0}])
    return SlowStore(inner, delay)


def test_slow_store_fail_open(tmp_path: Path) -> None:
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'", "service.store_timeout_ms=50"],
                       store=_slow_store(1.0)) as c:
        t = time.perf_counter()
        d = c.post("/v1/events", json=event("k1", "known", T0, "hi")).json()
        assert time.perf_counter() - t < 0.5
        assert d["action"] == "allow" and "fail-open" in d["reasons"][0]
        assert c.post("/v1/events", json=event("n1", "new-account", T0, "hi")).json()["reasons"] == []  # no store read
        assert "distillguard_store_timeouts_total 1" in c.get("/metrics").text


def test_slow_store_fail_closed(tmp_path: Path) -> None:
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'", "service.store_timeout_ms=50",
                        "service.fail_mode='closed'", "service.fail_closed_action='challenge'"],
                       store=_slow_store(1.0)) as c:
        d = c.post("/v1/events", json=event("k1", "known", T0, "hi")).json()
        assert d["action"] == "challenge" and "fail-closed" in d["reasons"][0]


def test_journal_skips_torn_line_and_rotates(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    with open(tmp_path / "j", "ab") as f:
        f.write(b'{"id": "c", "v"')  # killed mid-write
    done = j.rotate()
    assert done is not None and [r["id"] for r in read_journal(done)] == ["a", "b"]
    assert j.rotate() is None  # nothing new
    assert j.pending() == [done]
    j.close()
