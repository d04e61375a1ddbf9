"""Durable storage of the hub: STIX objects per collection, POST statuses and members.

One small interface (``Storage``) with two implementations sharing the same SQL:
``SQLiteStorage`` (default, embedded; WAL with ``synchronous=FULL`` so an accepted POST
survives a crash or restart) and ``PostgresStorage`` (optional extra ``hub-pg``, psycopg 3).
Nothing is ever updated in place: a new version of an object is a new row, so history,
retractions and the audit trail are kept by construction.

Ordering: every added row gets a sequence number and a ``date_added`` that strictly
increases with it (assigned inside the write transaction), so TAXII paging by ``next`` and
polling by ``added_after`` never skip or repeat an object.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

from distillguard.errors import ConfigError

if TYPE_CHECKING:
    from distillguard.intel.oprf import OprfKey

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS objects (
        seq {serial},
        collection_id TEXT NOT NULL,
        id TEXT NOT NULL,
        version TEXT NOT NULL,
        type TEXT NOT NULL,
        spec_version TEXT NOT NULL,
        date_added TEXT NOT NULL,
        created_by_ref TEXT,
        member TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (collection_id, id, version))""",
    "CREATE INDEX IF NOT EXISTS objects_by_added ON objects (collection_id, date_added)",
    "CREATE INDEX IF NOT EXISTS objects_by_id ON objects (collection_id, id)",
    """CREATE TABLE IF NOT EXISTS statuses (
        id TEXT PRIMARY KEY, member TEXT NOT NULL, body TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS members (
        name TEXT PRIMARY KEY,
        identity_id TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        token_hash TEXT UNIQUE,
        rights TEXT NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS oprf_keys (
        id TEXT PRIMARY KEY, seed TEXT NOT NULL, created TEXT NOT NULL, retired TEXT)""",
    """CREATE TABLE IF NOT EXISTS oprf_audit (
        seq {serial}, member TEXT NOT NULL, ts TEXT NOT NULL, key_id TEXT NOT NULL,
        count INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS oprf_audit_by_member ON oprf_audit (member, ts)",
]


def format_ts(dt: datetime) -> str:
    """Fixed-width UTC timestamp (microseconds) so that string order is time order."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """Parse a STIX/TAXII timestamp (any sub-second precision, 'Z' or offset)."""
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    if "." in t:  # Python < 3.11-safe: trim fractions to microseconds
        head, _, rest = t.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        t = f"{head}.{(digits + '000000')[:6]}{tz}"
    try:
        dt = datetime.fromisoformat(t)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(timezone.utc)
    except OverflowError:  # e.g. year 1 with a positive offset: before datetime.min in UTC
        raise ValueError(f"timestamp out of range: {text[:40]!r}") from None


def normalise_ts(text: str) -> str:
    return format_ts(parse_ts(text))


@dataclass(frozen=True)
class StoredObject:
    """One stored version of a STIX object and when the hub accepted it."""

    collection_id: str
    id: str
    version: str
    type: str
    spec_version: str
    date_added: str
    seq: int
    member: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ObjectQuery:
    """A TAXII object query: filters are ANDed, values inside one filter are ORed.

    ``versions`` holds 'last' (default), 'first', 'all' and/or normalised timestamps.
    """

    collection_id: str
    ids: Sequence[str] = ()
    types: Sequence[str] = ()
    versions: Sequence[str] = ("last",)
    spec_versions: Sequence[str] = ()
    added_after: str | None = None
    after_seq: int = 0
    limit: int = 1000


@dataclass(frozen=True)
class Member:
    """A consortium member: one organisation, one STIX identity, its credentials and rights."""

    name: str
    identity_id: str
    rights: dict[str, str] = field(default_factory=dict)  # collection id (or '*') -> 'r', 'w' or 'rw'
    password_hash: str | None = None
    token_hash: str | None = None
    admin: bool = False
    created: str = ""

    def can(self, collection_id: str, mode: str) -> bool:
        granted = self.rights.get(collection_id, "") + self.rights.get("*", "")
        return mode in granted


class Storage(Protocol):
    """What the hub needs from a database. Both implementations are safe across threads."""

    def add_objects(self, collection_id: str, member: str, objects: Sequence[dict[str, Any]]) -> tuple[str, list[bool]]:
        """Store objects atomically; returns (date_added, new-or-duplicate per object)."""

    def query(self, q: ObjectQuery) -> tuple[list[StoredObject], bool]:
        """Matching rows ordered by date_added, at most ``q.limit``, and whether more remain."""

    def owners(self, ids: Sequence[str]) -> dict[str, str | None]:
        """First creator of each id across all collections."""

    def iter_objects(self, collection_id: str | None = None) -> Iterator[StoredObject]:
        """Every stored version, oldest first (for aggregation and metrics)."""

    def save_status(self, status: dict[str, Any], member: str) -> None: ...

    def load_status(self, status_id: str) -> tuple[dict[str, Any], str] | None: ...

    def save_member(self, member: Member) -> None: ...

    def get_member(self, name: str | None = None, token_hash: str | None = None) -> Member | None: ...

    def list_members(self) -> list[Member]: ...

    def oprf_keys(self) -> list["OprfKey"]: ...

    def save_oprf_key(self, key: "OprfKey") -> None: ...

    def record_oprf(self, member: str, key_id: str, count: int) -> None: ...

    def oprf_usage(self, member: str | None = None, since: str | None = None) -> list[tuple[str, str, str, int]]: ...

    def close(self) -> None: ...


_VERSION_SQL = {
    "last": "rn_last = 1",
    "first": "rn_first = 1",
    "all": "1 = 1",
}


class _SQLStorage:
    """SQL shared by SQLite and PostgreSQL; subclasses provide connect/lock/placeholder."""

    placeholder = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conn: Any = None

    # -- plumbing -----------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    def _init_schema(self) -> None:
        with self._lock:
            for stmt in _SCHEMA:
                self._execute(stmt.format(serial=self.serial))
            self._commit()

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        try:
            self._execute("ROLLBACK")
        except Exception:  # no transaction open: nothing to undo
            pass

    def _begin(self) -> None:
        """Start an explicit transaction (both back-ends run in autocommit otherwise)."""
        self._execute("BEGIN")

    def _begin_write(self) -> None:
        """Start a transaction that serialises writers (so date_added stays monotonic)."""
        self._begin()

    # -- objects ------------------------------------------------------------------
    def add_objects(self, collection_id: str, member: str, objects: Sequence[dict[str, Any]]) -> tuple[str, list[bool]]:
        with self._lock:
            try:
                self._begin_write()
                row = self._execute("SELECT MAX(date_added) FROM objects").fetchone()
                now = datetime.now(timezone.utc)
                if row and row[0]:
                    now = max(now, parse_ts(row[0]) + timedelta(microseconds=1))
                date_added = format_ts(now)
                fresh: list[bool] = []
                for obj in objects:
                    version = object_version(obj, date_added)
                    exists = self._execute(
                        "SELECT 1 FROM objects WHERE collection_id = ? AND id = ? AND version = ?",
                        (collection_id, obj["id"], version)).fetchone()
                    if exists:
                        fresh.append(False)
                        continue
                    self._execute(
                        "INSERT INTO objects (collection_id, id, version, type, spec_version, date_added,"
                        " created_by_ref, member, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (collection_id, obj["id"], version, obj.get("type", ""), obj.get("spec_version", "2.1"),
                         date_added, obj.get("created_by_ref"), member, json.dumps(obj, sort_keys=True)))
                    fresh.append(True)
                self._commit()
            except BaseException:
                self._rollback()
                raise
        return date_added, fresh

    def query(self, q: ObjectQuery) -> tuple[list[StoredObject], bool]:
        where = ["collection_id = ?"]
        params: list[Any] = [q.collection_id]
        for col, values in (("id", q.ids), ("type", q.types), ("spec_version", q.spec_versions)):
            if values:
                where.append(f"{col} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        outer: list[str] = []
        outer_params: list[Any] = []
        vfilters = [_VERSION_SQL[v] for v in q.versions if v in _VERSION_SQL]
        stamps = [v for v in q.versions if v not in _VERSION_SQL]
        if stamps:
            vfilters.append(f"version IN ({', '.join('?' for _ in stamps)})")
            outer_params.extend(stamps)
        outer.append("(" + " OR ".join(vfilters or ["rn_last = 1"]) + ")")
        if q.added_after:
            outer.append("date_added > ?")
            outer_params.append(q.added_after)
        if q.after_seq:
            outer.append("seq > ?")
            outer_params.append(q.after_seq)
        sql = (
            "SELECT collection_id, id, version, type, spec_version, date_added, seq, member, body FROM ("
            " SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY version DESC) AS rn_last,"
            " ROW_NUMBER() OVER (PARTITION BY id ORDER BY version ASC) AS rn_first"
            f" FROM objects WHERE {' AND '.join(where)}) AS v"
            f" WHERE {' AND '.join(outer)} ORDER BY seq LIMIT ?")
        with self._lock:
            rows = self._execute(sql, [*params, *outer_params, q.limit + 1]).fetchall()
        objs = [_row(r) for r in rows[: q.limit]]
        return objs, len(rows) > q.limit

    def owners(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The first creator (created_by_ref of the earliest stored version) of each id,
        across every collection: an id belongs to whoever posted it first, anywhere."""
        out: dict[str, str | None] = {}
        ids = list(dict.fromkeys(ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            with self._lock:
                rows = self._execute(
                    f"SELECT id, created_by_ref FROM objects WHERE id IN ({', '.join('?' for _ in chunk)})"
                    " ORDER BY seq", chunk).fetchall()
            for oid, author in rows:
                out.setdefault(oid, author)
        return out

    def iter_objects(self, collection_id: str | None = None) -> Iterator[StoredObject]:
        sql = "SELECT collection_id, id, version, type, spec_version, date_added, seq, member, body FROM objects"
        params: tuple[Any, ...] = ()
        if collection_id:
            sql += " WHERE collection_id = ?"
            params = (collection_id,)
        with self._lock:
            rows = self._execute(sql + " ORDER BY seq", params).fetchall()
        return iter([_row(r) for r in rows])

    # -- statuses -----------------------------------------------------------------
    def save_status(self, status: dict[str, Any], member: str) -> None:
        with self._lock:
            self._execute("INSERT INTO statuses (id, member, body) VALUES (?, ?, ?)",
                          (status["id"], member, json.dumps(status)))
            self._commit()

    def load_status(self, status_id: str) -> tuple[dict[str, Any], str] | None:
        with self._lock:
            row = self._execute("SELECT body, member FROM statuses WHERE id = ?", (status_id,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    # -- members ------------------------------------------------------------------
    def save_member(self, member: Member) -> None:
        created = member.created or format_ts(datetime.now(timezone.utc))
        with self._lock:
            try:
                self._begin()
                self._execute("DELETE FROM members WHERE name = ?", (member.name,))
                self._execute(
                    "INSERT INTO members (name, identity_id, password_hash, token_hash, rights, admin, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (member.name, member.identity_id, member.password_hash, member.token_hash,
                     json.dumps(member.rights, sort_keys=True), int(member.admin), created))
                self._commit()
            except BaseException:
                self._rollback()
                raise

    def get_member(self, name: str | None = None, token_hash: str | None = None) -> Member | None:
        col, val = ("name", name) if name is not None else ("token_hash", token_hash)
        if val is None:
            return None
        with self._lock:
            row = self._execute(
                "SELECT name, identity_id, password_hash, token_hash, rights, admin, created FROM members"
                f" WHERE {col} = ?", (val,)).fetchone()
        return _member(row) if row else None

    def list_members(self) -> list[Member]:
        with self._lock:
            rows = self._execute("SELECT name, identity_id, password_hash, token_hash, rights, admin, created"
                                 " FROM members ORDER BY name").fetchall()
        return [_member(r) for r in rows]

    # -- OPRF keys and their audit trail ---------------------------------------------
    def oprf_keys(self) -> list["OprfKey"]:
        from distillguard.intel.oprf import OprfKey

        with self._lock:
            rows = self._execute("SELECT id, seed, created, retired FROM oprf_keys ORDER BY created").fetchall()
        return [OprfKey(r[0], bytes.fromhex(r[1]), r[2], r[3]) for r in rows]

    def save_oprf_key(self, key: "OprfKey") -> None:
        with self._lock:
            try:
                self._begin()
                self._execute("DELETE FROM oprf_keys WHERE id = ?", (key.id,))
                self._execute("INSERT INTO oprf_keys (id, seed, created, retired) VALUES (?, ?, ?, ?)",
                              (key.id, key.seed.hex(), key.created, key.retired))
                self._commit()
            except BaseException:
                self._rollback()
                raise

    def record_oprf(self, member: str, key_id: str, count: int) -> None:
        with self._lock:
            self._execute("INSERT INTO oprf_audit (member, ts, key_id, count) VALUES (?, ?, ?, ?)",
                          (member, format_ts(datetime.now(timezone.utc)), key_id, int(count)))
            self._commit()

    def oprf_usage(self, member: str | None = None, since: str | None = None) -> list[tuple[str, str, str, int]]:
        """(member, ts, key_id, count) per evaluation request, oldest first."""
        where, params = [], []
        if member is not None:
            where.append("member = ?")
            params.append(member)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        sql = "SELECT member, ts, key_id, count FROM oprf_audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._execute(sql + " ORDER BY seq", params).fetchall()
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _row(r: Sequence[Any]) -> StoredObject:
    return StoredObject(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], json.loads(r[8]))


def _member(r: Sequence[Any]) -> Member:
    return Member(name=r[0], identity_id=r[1], password_hash=r[2], token_hash=r[3],
                  rights=json.loads(r[4]), admin=bool(r[5]), created=r[6])


def object_version(obj: dict[str, Any], date_added: str) -> str:
    """TAXII 2.1 version of an object: modified, else created, else the date it was added."""
    for key in ("modified", "created"):
        if isinstance(obj.get(key), str):
            try:
                return normalise_ts(obj[key])
            except ValueError:
                break
    return date_added


class SQLiteStorage(_SQLStorage):
    """Embedded default. WAL + synchronous=FULL: a committed POST survives power loss."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._init_schema()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, tuple(params))

    def _commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")


class PostgresStorage(_SQLStorage):
    """Optional server database (``pip install distillguard[hub-pg]``) for larger consortia."""

    placeholder = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - depends on the optional extra
            raise ConfigError("PostgreSQL storage needs psycopg: pip install 'distillguard[hub-pg]'",
                              source="hub.database") from e
        self._conn = psycopg.connect(url, autocommit=True)
        self._init_schema()

    def _commit(self) -> None:
        from psycopg.pq import TransactionStatus

        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            self._execute("COMMIT")

    def _begin_write(self) -> None:
        self._begin()
        self._execute("LOCK TABLE objects IN SHARE ROW EXCLUSIVE MODE")


def open_storage(database: str) -> Storage:
    """Open the storage a ``hub.database`` setting names (a path, ':memory:' or postgresql://)."""
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStorage(database)
    return SQLiteStorage(database)
