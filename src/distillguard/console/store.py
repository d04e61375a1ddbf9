"""The console's embedded case store: one SQLite file holding cases, users, sessions and the log.

Why SQLite: the console runs beside the findings on an analyst's or a team's machine and
needs no server; WAL mode lets the web app, ``intel export --cases`` and ``console labels``
read it while the app writes. One :class:`CaseStore` per process; writes go through
:meth:`CaseStore.tx` (``BEGIN IMMEDIATE``) so an activity and the change it records commit
together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillguard.console import activity
from distillguard.errors import InputError

STATUSES = ("open", "in_review", "confirmed", "dismissed", "appealed", "reopened")
ACTIVE = ("open", "in_review", "appealed", "reopened")
CLOSED = ("confirmed", "dismissed")
ROLES = ("analyst", "reviewer", "compliance")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, provider TEXT,
  imported_at TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS cases (
  id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL REFERENCES sources(id), kind TEXT NOT NULL, ref TEXT NOT NULL,
  provider TEXT, title TEXT NOT NULL, score REAL NOT NULL, size INTEGER NOT NULL, priority REAL NOT NULL,
  verdict TEXT, signals TEXT NOT NULL DEFAULT '', tie TEXT, first_seen TEXT, last_seen TEXT,
  status TEXT NOT NULL DEFAULT 'open', assignee TEXT, escalated INTEGER NOT NULL DEFAULT 0, decision TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, triaged_at TEXT, decided_at TEXT,
  data TEXT NOT NULL DEFAULT '{}', UNIQUE(source_id, kind, ref));
CREATE INDEX IF NOT EXISTS cases_queue ON cases(status, escalated DESC, priority DESC);
CREATE INDEX IF NOT EXISTS cases_ref ON cases(ref);
CREATE TABLE IF NOT EXISTS case_accounts (case_id INTEGER NOT NULL, account_id TEXT NOT NULL, score REAL,
  verdict TEXT, PRIMARY KEY(case_id, account_id));
CREATE INDEX IF NOT EXISTS case_accounts_account ON case_accounts(account_id);
CREATE TABLE IF NOT EXISTS case_facts (case_id INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(case_id, kind, value));
CREATE INDEX IF NOT EXISTS case_facts_value ON case_facts(kind, value);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT NOT NULL,
  created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
  created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, actor TEXT NOT NULL, ts TEXT NOT NULL, action TEXT NOT NULL,
  filter TEXT NOT NULL, case_ids TEXT NOT NULL, reason TEXT, undone_at TEXT, undone_by TEXT);
CREATE TABLE IF NOT EXISTS guard_outbox (id INTEGER PRIMARY KEY, activity_seq INTEGER, case_id INTEGER,
  account_id TEXT NOT NULL, verdict TEXT NOT NULL, analyst TEXT, note TEXT, created_at TEXT NOT NULL,
  delivered_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT);
CREATE INDEX IF NOT EXISTS guard_outbox_pending ON guard_outbox(delivered_at, id);
CREATE TABLE IF NOT EXISTS allowlist (account_id TEXT PRIMARY KEY, case_id INTEGER, actor TEXT, ts TEXT NOT NULL,
  reason TEXT);
CREATE TABLE IF NOT EXISTS shared (case_id INTEGER NOT NULL, indicator_id TEXT NOT NULL, bundle_path TEXT NOT NULL,
  exported_at TEXT NOT NULL, retracted_at TEXT, PRIMARY KEY(case_id, indicator_id));
"""


@dataclass
class QueueFilter:
    """What the queue shows; the same filter drives batch actions (so a preview is the queue)."""

    status: str = "active"          # a status, "active" (open/in review/appealed/reopened), "closed" or "all"
    kind: str | None = None         # campaign | account
    verdict: str | None = None      # flag | watch (account cases)
    signal: str | None = None       # a signal name among the case's signals
    tie: str | None = None          # what ties a campaign: identity | network | client | template | sync
    provider: str | None = None
    since: str | None = None        # last_seen >= since (ISO date)
    until: str | None = None        # first_seen <= until
    email_domain: str | None = None
    network: str | None = None      # an IP prefix such as 203.0.113 or 203.0.113.0/24
    assignee: str | None = None
    q: str | None = None            # case number, campaign id or account id

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "QueueFilter":
        """From query/form parameters; unknown names are ignored, empty values mean 'any'."""
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: (v.strip() or None) for k, v in params.items() if k in known and isinstance(v, str)}
        f = cls(**{k: v for k, v in kw.items() if v is not None})
        if f.status not in (*STATUSES, "active", "closed", "all"):
            raise InputError(f"unknown status {f.status!r}; one of {', '.join((*STATUSES, 'active', 'closed', 'all'))}")
        if f.kind not in (None, "campaign", "account"):
            raise InputError("kind must be campaign or account")
        return f

    def params(self) -> dict[str, str]:
        """The filter as query parameters (only what is set)."""
        return {k: str(v) for k, v in self.__dict__.items() if v not in (None, "")}

    def where(self) -> tuple[str, list[Any]]:
        """SQL WHERE clause over ``cases c`` and its arguments."""
        w: list[str] = []
        a: list[Any] = []
        if self.status == "active":
            w.append(f"c.status IN ({','.join('?' * len(ACTIVE))})")
            a += ACTIVE
        elif self.status == "closed":
            w.append(f"c.status IN ({','.join('?' * len(CLOSED))})")
            a += CLOSED
        elif self.status != "all":
            w.append("c.status = ?")
            a.append(self.status)
        for col in ("kind", "verdict", "tie", "provider", "assignee"):
            v = getattr(self, col)
            if v:
                w.append(f"c.{col} = ?")
                a.append(v)
        if self.signal:
            w.append("(' ' || c.signals || ' ') LIKE ?")
            a.append(f"% {self.signal} %")
        if self.since:
            w.append("c.last_seen >= ?")
            a.append(self.since)
        if self.until:
            w.append("c.first_seen <= ?")
            a.append(self.until + ("T23:59:59.999999+00:00" if len(self.until) == 10 else ""))
        if self.email_domain:
            w.append("EXISTS (SELECT 1 FROM case_facts f WHERE f.case_id=c.id AND f.kind='email_domain' AND f.value=?)")
            a.append(self.email_domain.lower().lstrip("@"))
        if self.network:
            net = self.network.strip()
            w.append("EXISTS (SELECT 1 FROM case_facts f WHERE f.case_id=c.id AND f.kind='network' AND f.value LIKE ?)")
            a.append(net if "/" in net else net + "%")
        if self.q:
            q = self.q.strip().lstrip("#")
            cond = ["c.ref = ?", "EXISTS (SELECT 1 FROM case_accounts m WHERE m.case_id=c.id AND m.account_id=?)"]
            a += [q, q]
            if q.isdigit():
                cond.insert(0, "c.id = ?")
                a.insert(len(a) - 2, int(q))
            w.append("(" + " OR ".join(cond) + ")")
        return (" WHERE " + " AND ".join(w)) if w else "", a


SORTS = {"priority": "c.escalated DESC, c.priority DESC, c.id", "score": "c.score DESC, c.id",
         "size": "c.size DESC, c.id", "newest": "c.last_seen DESC, c.id", "id": "c.id"}


@dataclass
class Case:
    id: int
    kind: str
    ref: str
    provider: str | None
    title: str
    score: float
    size: int
    priority: float
    verdict: str | None
    signals: list[str]
    tie: str | None
    first_seen: str | None
    last_seen: str | None
    status: str
    assignee: str | None
    escalated: bool
    decision: str | None
    created_at: str
    updated_at: str
    triaged_at: str | None
    decided_at: str | None
    source_path: str = ""
    data: dict[str, Any] = field(default_factory=dict)


CASE_COLS = ("id", "kind", "ref", "provider", "title", "score", "size", "priority", "verdict", "signals", "tie",
             "first_seen", "last_seen", "status", "assignee", "escalated", "decision", "created_at", "updated_at",
             "triaged_at", "decided_at")


def _case(row: tuple[Any, ...], with_data: bool) -> Case:
    d = dict(zip(CASE_COLS, row[:len(CASE_COLS)]))
    d["signals"] = [s for s in (d["signals"] or "").split(" ") if s]
    d["escalated"] = bool(d["escalated"])
    c = Case(**d, source_path=row[len(CASE_COLS)])
    if with_data:
        c.data = json.loads(row[len(CASE_COLS) + 1] or "{}")
    return c


class CaseStore:
    """The SQLite case store. Thread-safe: one connection guarded by a lock (the app is small)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path)
            if p.parent and not p.parent.exists():
                raise InputError("the folder for the case database does not exist", source=str(p.parent))
        self.con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.RLock()
        with self.lock:
            self.con.executescript(SCHEMA + activity.SCHEMA)

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        with self.lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def query(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.con.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ cases
    def case(self, case_id: int) -> Case | None:
        rows = self.query(f"SELECT {', '.join('c.' + k for k in CASE_COLS)}, s.path, c.data FROM cases c "
                          "JOIN sources s ON s.id=c.source_id WHERE c.id=?", (case_id,))
        return _case(rows[0], True) if rows else None

    def find(self, ref: str, provider: str | None = None) -> Case | None:
        """The case for a campaign id or account id (the report links by these)."""
        q = (f"SELECT {', '.join('c.' + k for k in CASE_COLS)}, s.path, c.data FROM cases c JOIN sources s "
             "ON s.id=c.source_id WHERE (c.ref=? OR EXISTS (SELECT 1 FROM case_accounts m WHERE m.case_id=c.id "
             "AND m.account_id=?))")
        args: list[Any] = [ref, ref]
        if provider:
            q += " AND c.provider IS ?"
            args.append(provider)
        rows = self.query(q + " ORDER BY c.kind='campaign' DESC, c.id LIMIT 1", args)
        return _case(rows[0], True) if rows else None

    def queue(self, f: QueueFilter, sort: str = "priority", limit: int = 100, offset: int = 0) -> tuple[int, list[Case]]:
        """(total matching, one page of cases) for a filter."""
        where, args = f.where()
        order = SORTS.get(sort, SORTS["priority"])
        with self.lock:
            total = int(self.con.execute(f"SELECT count(*) FROM cases c{where}", args).fetchone()[0])
            rows = self.con.execute(
                f"SELECT {', '.join('c.' + k for k in CASE_COLS)}, s.path FROM cases c JOIN sources s "
                f"ON s.id=c.source_id{where} ORDER BY {order} LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return total, [_case(r, False) for r in rows]

    def case_ids(self, f: QueueFilter) -> list[int]:
        where, args = f.where()
        return [int(r[0]) for r in self.query(f"SELECT c.id FROM cases c{where} ORDER BY c.id", args)]

    def members(self, case_id: int) -> list[tuple[str, float | None, str | None]]:
        return [(str(a), s, v) for a, s, v in self.query(
            "SELECT account_id, score, verdict FROM case_accounts WHERE case_id=? ORDER BY score DESC, account_id",
            (case_id,))]

    def facts(self, case_id: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.query("SELECT kind, value FROM case_facts WHERE case_id=? ORDER BY kind, value", (case_id,)):
            out.setdefault(k, []).append(v)
        return out

    def choices(self) -> dict[str, list[str]]:
        """Distinct values for the queue's filter menus."""
        q = {"provider": "SELECT DISTINCT provider FROM cases WHERE provider IS NOT NULL ORDER BY 1",
             "tie": "SELECT DISTINCT tie FROM cases WHERE tie IS NOT NULL ORDER BY 1",
             "assignee": "SELECT DISTINCT assignee FROM cases WHERE assignee IS NOT NULL ORDER BY 1"}
        out = {k: [str(r[0]) for r in self.query(s)] for k, s in q.items()}
        sig: set[str] = set()
        for (s,) in self.query("SELECT DISTINCT signals FROM cases"):
            sig.update(x for x in (s or "").split(" ") if x)
        out["signal"] = sorted(sig)
        return out

    def pending_deliveries(self) -> int:
        return int(self.query("SELECT count(*) FROM guard_outbox WHERE delivered_at IS NULL")[0][0])
