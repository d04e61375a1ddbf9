"""Persistence for the real-time guard: a write-ahead journal plus a state store.

Durability contract (tested by SIGKILL-ing a server):

* **Decisions and analyst feedback are never lost.** Before the service answers, each
  request's decisions are appended to a journal file with one ``write(2)``; the bytes are
  in the kernel once it returns, so a killed process loses nothing (a power cut is outside
  this contract unless ``fsync`` is enabled). Appending is microseconds, which is what
  lets the guard sit in the request path.
* **Account state is lost for at most ``flush_interval_s``.** Every flush rotates the
  journal, then one store transaction upserts dirty account states and moves the rotated
  journal's records into the ``decisions`` / ``feedback`` tables; only then is the rotated
  file deleted. At start-up, left-over journal files are replayed first (idempotent:
  ``INSERT OR IGNORE`` on the record id), and a reloaded account takes its hold and
  override from those tables, so its latest decision survives even if its state was older.

The store is a one-method-per-need seam (:class:`StateStore`) with :class:`SQLiteStore`
(WAL) for real use, :class:`MemoryStore` as the fake, and :class:`SlowStore` to test that
a slow store cannot stall answers (the guard puts timeouts around every store read).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

import orjson

Record = dict[str, Any]


@dataclass
class StoredAccount:
    """What the store knows about one account."""

    state: bytes | None
    decisions: list[Record] = field(default_factory=list)
    verdict: str | None = None


class StateStore(Protocol):
    """Where account state, decisions and feedback live between runs."""

    def load(self, account_id: str, history: int) -> StoredAccount | None: ...
    def known_ids(self) -> Iterable[str]: ...
    def commit(self, states: list[tuple[str, bytes]], records: list[Record]) -> None: ...
    def feedback(self) -> list[Record]: ...
    def close(self) -> None: ...


class MemoryStore:
    """In-memory store: the fake for tests and ``state_path = ':memory:'``."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}
        self.decisions: dict[str, Record] = {}
        self.fb: dict[str, Record] = {}
        self._lock = threading.Lock()  # reads and the background writer run on different threads

    def load(self, account_id: str, history: int) -> StoredAccount | None:
        with self._lock:
            st = self.states.get(account_id)
            dec = [d for d in self.decisions.values() if d["account_id"] == account_id][-history:]
            fbs = [f for f in self.fb.values() if f["account_id"] == account_id]
        if st is None and not dec and not fbs:
            return None
        return StoredAccount(st, dec, fbs[-1]["verdict"] if fbs else None)

    def known_ids(self) -> Iterable[str]:
        with self._lock:
            return self._known()

    def _known(self) -> set[str]:
        return set(self.states) | {d["account_id"] for d in self.decisions.values()} | {f["account_id"] for f in self.fb.values()}

    def commit(self, states: list[tuple[str, bytes]], records: list[Record]) -> None:
        with self._lock:
            self.states.update(states)
            for r in records:
                (self.fb if r.get("kind") == "feedback" else self.decisions).setdefault(r["id"], r)

    def feedback(self) -> list[Record]:
        with self._lock:
            return list(self.fb.values())

    def close(self) -> None:
        pass


class SlowStore:
    """Wraps a store and sleeps before each call: simulates a stalled disk or database."""

    def __init__(self, inner: StateStore, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def load(self, account_id: str, history: int) -> StoredAccount | None:
        time.sleep(self.delay_s)
        return self.inner.load(account_id, history)

    def known_ids(self) -> Iterable[str]:
        return self.inner.known_ids()

    def commit(self, states: list[tuple[str, bytes]], records: list[Record]) -> None:
        time.sleep(self.delay_s)
        self.inner.commit(states, records)

    def feedback(self) -> list[Record]:
        return self.inner.feedback()

    def close(self) -> None:
        self.inner.close()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (account_id TEXT PRIMARY KEY, blob BLOB NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, ts REAL, action TEXT NOT NULL,
  score REAL, campaign_id TEXT, reasons TEXT, hold_until REAL, decided_at REAL);
CREATE INDEX IF NOT EXISTS decisions_account ON decisions(account_id, ts);
CREATE TABLE IF NOT EXISTS feedback (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, verdict TEXT NOT NULL,
  analyst TEXT, note TEXT, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_account ON feedback(account_id, at);
"""


class SQLiteStore:
    """SQLite in WAL mode with two connections: one for reads, one for the background writer.

    Why two: in WAL mode a reader never waits for a writer, so a cache-miss load on the
    request path is not queued behind a large flush transaction (which would push it past
    ``store_timeout_ms`` and into the fail mode for no reason).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards the read connection
        self._wlock = threading.Lock()  # guards the write connection
        self.wcon = self._connect()
        self.wcon.executescript(_SCHEMA)
        self.con = self._connect()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=5000")
        return con

    def load(self, account_id: str, history: int) -> StoredAccount | None:
        with self._lock:
            row = self.con.execute("SELECT blob FROM state WHERE account_id=?", (account_id,)).fetchone()
            dec = self.con.execute(
                "SELECT id, account_id, ts, action, score, campaign_id, reasons, hold_until, decided_at FROM decisions "
                "WHERE account_id=? ORDER BY ts DESC, decided_at DESC LIMIT ?", (account_id, history)).fetchall()
            fb = self.con.execute("SELECT verdict FROM feedback WHERE account_id=? ORDER BY at DESC LIMIT 1",
                                  (account_id,)).fetchone()
        if row is None and not dec and fb is None:
            return None
        cols = ("id", "account_id", "ts", "action", "score", "campaign_id", "reasons", "hold_until", "decided_at")
        decisions = [dict(zip(cols, d)) for d in reversed(dec)]
        for d in decisions:
            d["reasons"] = orjson.loads(d["reasons"]) if d["reasons"] else []
        return StoredAccount(row[0] if row else None, decisions, fb[0] if fb else None)

    def known_ids(self) -> Iterable[str]:
        with self._lock:
            q = "SELECT account_id FROM state UNION SELECT account_id FROM decisions UNION SELECT account_id FROM feedback"
            return [r[0] for r in self.con.execute(q)]

    def commit(self, states: list[tuple[str, bytes]], records: list[Record]) -> None:
        now = time.time()
        dec = [(r["id"], r["account_id"], r.get("ts"), r["action"], r.get("score"), r.get("campaign_id"),
                orjson.dumps(r.get("reasons", [])).decode(), r.get("hold_until"), r.get("decided_at"))
               for r in records if r.get("kind") != "feedback"]
        fb = [(r["id"], r["account_id"], r["verdict"], r.get("analyst"), r.get("note"), r["at"])
              for r in records if r.get("kind") == "feedback"]
        with self._wlock:
            con = self.wcon
            con.execute("BEGIN")
            try:
                con.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", [(a, b, now) for a, b in states])
                con.executemany("INSERT OR IGNORE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", dec)
                con.executemany("INSERT OR IGNORE INTO feedback VALUES (?, ?, ?, ?, ?, ?)", fb)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def feedback(self) -> list[Record]:
        with self._lock:
            rows = self.con.execute("SELECT id, account_id, verdict, analyst, note, at FROM feedback ORDER BY at").fetchall()
        return [dict(zip(("id", "account_id", "verdict", "analyst", "note", "at"), r)) for r in rows]

    def close(self) -> None:
        with self._wlock, self._lock:
            self.wcon.close()
            self.con.close()


class Journal:
    """Append-only JSON-lines journal with rotation.

    ``append`` is one ``write(2)``. The request path uses group commit instead:
    ``buffer`` only serialises into memory and the guard calls ``write_pending`` once per
    event-loop iteration, so every request decided in that iteration shares one syscall
    (and one ``fsync`` when enabled) before any of them is answered.
    """

    def __init__(self, path: str | Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq = int(time.time() * 1000)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []

    def buffer(self, records: list[Record]) -> None:
        """Serialise records into the pending group (no syscall)."""
        for r in records:
            self._pending.append(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE))

    def write_pending(self) -> int:
        """Write the pending group with one ``write(2)``; returns the records written."""
        if not self._pending:
            return 0
        data, n = b"".join(self._pending), len(self._pending)
        self._pending = []
        self._write(data)
        return n

    def append(self, records: list[Record]) -> None:
        """Write records now (one ``write(2)``), after any pending group."""
        self.buffer(records)
        self.write_pending()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        if self.fsync:
            os.fsync(self._fd)

    def rotate(self) -> Path | None:
        """Close the current file and start a new one; returns the closed file (or None if empty)."""
        self.write_pending()
        if os.fstat(self._fd).st_size == 0:
            return None
        os.close(self._fd)
        self._seq += 1
        done = self.path.with_name(f"{self.path.name}.{self._seq}.done")
        os.replace(self.path, done)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return done

    def pending(self) -> list[Path]:
        """Rotated files not yet committed to the store, oldest first, then the live one."""
        done = sorted(self.path.parent.glob(f"{self.path.name}.*.done"), key=lambda p: int(p.name.split(".")[-2]))
        return done

    def close(self) -> None:
        self.write_pending()
        os.close(self._fd)


def read_journal(path: Path) -> list[Record]:
    """Parse a journal file; a torn last line (killed mid-write) is skipped."""
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out


def open_store(path: str) -> StateStore:
    """':memory:' → MemoryStore, anything else → SQLiteStore at that path."""
    return MemoryStore() if path == ":memory:" else SQLiteStore(path)
