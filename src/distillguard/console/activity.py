"""The console's typed, append-only, hash-chained activity log.

Every change to a case is one activity: who, when, what (a type from :data:`TYPES`), why,
and an internal or public note. Like the intel audit log (``distillguard.intel.audit``),
each entry carries the previous entry's hash and its own hash over its canonical JSON,
so editing, deleting, inserting or reordering a row breaks the chain and :func:`verify`
names the first broken one. SQLite triggers refuse UPDATE and DELETE on the table, so the
application itself cannot rewrite history; someone editing the file with other tools is
what the chain (and an anchored head, ``expect_head``) catches.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from distillguard.errors import AuditTamperedError
from distillguard.intel.audit import GENESIS, canonical

TYPES = ("queue", "assign", "note", "escalate", "confirm", "dismiss", "allowlist", "appeal", "reopen",
         "share", "retract")
"""Activity types. ``queue``: the case entered the queue (import). ``share``/``retract``: intel export
took the case / a dismissal revoked what was shared."""

FIELDS = ("seq", "ts", "actor", "role", "case_id", "type", "status_from", "status_to", "reason",
          "note_internal", "note_public", "batch_id", "data", "prev")

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
  seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, actor TEXT NOT NULL, role TEXT, case_id INTEGER, type TEXT NOT NULL,
  status_from TEXT, status_to TEXT, reason TEXT, note_internal TEXT, note_public TEXT, batch_id TEXT,
  data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS activities_case ON activities(case_id, seq);
CREATE TRIGGER IF NOT EXISTS activities_no_update BEFORE UPDATE ON activities
  BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS activities_no_delete BEFORE DELETE ON activities
  BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
"""


def _hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: entry[k] for k in FIELDS})).hexdigest()


def now_iso() -> str:
    """UTC now as ISO 8601 with microseconds (what every console timestamp uses)."""
    return datetime.now(timezone.utc).isoformat()


def append(con: sqlite3.Connection, *, actor: str, type: str, case_id: int | None = None, role: str | None = None,
           status_from: str | None = None, status_to: str | None = None, reason: str | None = None,
           note_internal: str | None = None, note_public: str | None = None, batch_id: str | None = None,
           data: dict[str, Any] | None = None, ts: str | None = None) -> dict[str, Any]:
    """Append one activity inside the caller's transaction and return it (with seq and hash)."""
    if type not in TYPES:
        raise ValueError(f"unknown activity type {type!r}; one of {TYPES}")
    row = con.execute("SELECT seq, hash FROM activities ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
    entry: dict[str, Any] = {"seq": seq, "ts": ts or now_iso(), "actor": actor, "role": role, "case_id": case_id,
                             "type": type, "status_from": status_from, "status_to": status_to, "reason": reason,
                             "note_internal": note_internal, "note_public": note_public, "batch_id": batch_id,
                             "data": json.dumps(data or {}, sort_keys=True, separators=(",", ":")), "prev": prev}
    entry["hash"] = _hash(entry)
    con.execute(f"INSERT INTO activities ({', '.join(FIELDS)}, hash) VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
                [entry[k] for k in FIELDS] + [entry["hash"]])
    return entry


def rows(con: sqlite3.Connection, case_id: int | None = None, limit: int | None = None,
         newest_first: bool = False) -> list[dict[str, Any]]:
    """Activities as dicts (``data`` decoded), all or one case's."""
    q = f"SELECT {', '.join(FIELDS)}, hash FROM activities"
    args: list[Any] = []
    if case_id is not None:
        q += " WHERE case_id=?"
        args.append(case_id)
    q += " ORDER BY seq" + (" DESC" if newest_first else "")
    if limit:
        q += f" LIMIT {int(limit)}"
    out = []
    for r in con.execute(q, args):
        d = dict(zip((*FIELDS, "hash"), r))
        out.append(d)
    return out


def _iter_all(con: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    cur = con.execute(f"SELECT {', '.join(FIELDS)}, hash FROM activities ORDER BY seq")
    for r in cur:
        yield dict(zip((*FIELDS, "hash"), r))


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head: str


def verify(con: sqlite3.Connection, expect_head: str | None = None) -> ChainReport:
    """Walk the whole chain; raise AuditTamperedError naming the first broken entry."""
    prev, seq, n = GENESIS, 0, 0
    for e in _iter_all(con):
        n += 1
        where = f"activity {e['seq']}"
        if e["prev"] != prev:
            raise AuditTamperedError("chain broken: prev does not match the previous activity's hash "
                                     "(an activity was removed, inserted or reordered)", source=where)
        if _hash(e) != e["hash"]:
            raise AuditTamperedError("activity was modified after it was written (hash mismatch)", source=where)
        if e["seq"] != seq + 1:
            raise AuditTamperedError(f"sequence jumps from {seq} to {e['seq']}", source=where)
        prev, seq = e["hash"], e["seq"]
    if expect_head is not None and prev != expect_head:
        raise AuditTamperedError("the log's latest hash differs from the anchored one (truncated or rewritten)")
    return ChainReport(n, prev)


def export_jsonl(con: sqlite3.Connection, out: str | Path) -> ChainReport:
    """Write every activity as one canonical JSON line (the chain can be re-checked from the file
    with :func:`verify_jsonl`); returns the chain's length and head."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    n, head = 0, GENESIS
    with p.open("wb") as f:
        for e in _iter_all(con):
            f.write(canonical(e) + b"\n")
            n, head = n + 1, e["hash"]
    return ChainReport(n, head)


def verify_jsonl(path: str | Path, expect_head: str | None = None) -> ChainReport:
    """Check an exported log file: the same chain rules as :func:`verify`."""
    prev, seq, n = GENESIS, 0, 0
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError as err:
            raise AuditTamperedError(f"line {lineno} is not JSON: {err}", source=str(path)) from err
        where = f"{path}:{lineno}"
        if not isinstance(e, dict) or any(k not in e for k in (*FIELDS, "hash")):
            raise AuditTamperedError("entry lacks fields", source=where)
        if e["prev"] != prev:
            raise AuditTamperedError("chain broken (an activity was removed, inserted or reordered)", source=where)
        if _hash(e) != e["hash"]:
            raise AuditTamperedError("activity was modified after it was written (hash mismatch)", source=where)
        if e["seq"] != seq + 1:
            raise AuditTamperedError(f"sequence jumps from {seq} to {e['seq']}", source=where)
        prev, seq, n = e["hash"], e["seq"], n + 1
    if expect_head is not None and prev != expect_head:
        raise AuditTamperedError("the log's latest hash differs from the anchored one (truncated or rewritten)",
                                 source=str(path))
    return ChainReport(n, prev)
