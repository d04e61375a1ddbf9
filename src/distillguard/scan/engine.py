"""The scan's DuckDB side: one bounded connection, canonical inputs, and the scoped views.

Memory is bounded by ``settings.engine`` (DuckDB ``memory_limit``, ``threads``, a spill
``temp_directory``), never by input size: inputs stay as Parquet parts on disk and every
query streams over them. Detectors only ever see two views:

* ``events``   — canonical events inside the scan scope (``--since``/``--until`` and, while
                 re-scoring batch-only flags on prefixes, the first *n* events of each account);
* ``accounts`` — canonical account metadata (possibly empty, same columns).

``events_base`` holds the whole window with ``rn`` (the event's 1-based position in its
account's history).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from distillguard.config import EngineConfig
from distillguard.schema import ACCOUNTS_SCHEMA, EVENTS_SCHEMA


def connect(cfg: EngineConfig, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB connection limited by ``cfg`` (spills to ``work_dir/spill``)."""
    con = duckdb.connect(":memory:")
    temp = Path(cfg.temp_directory) if cfg.temp_directory else work_dir / "spill"
    temp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{_sql_str(cfg.memory_limit)}'")
    con.execute(f"SET threads = {int(cfg.threads)}")
    con.execute(f"SET temp_directory = '{_sql_str(str(temp))}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")  # day and hour features are UTC, as in features.stream
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    """First column of the first row as int (fetches the whole result: DuckDB 2 refuses new
    work on a connection while a result is unfinished)."""
    rows = con.execute(sql, params or []).fetchall()
    return int(rows[0][0] or 0) if rows else 0


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _parts(folder: Path) -> str:
    return _sql_str(str(folder / "*.parquet"))


def load_events(
    con: duckdb.DuckDBPyConnection, parts: Path, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Create ``events_base`` (window-cut, with per-account position ``rn``); return its row count.

    It is materialised once (DuckDB spills it if it exceeds the memory limit) because
    every later pass — features, detectors, replay prefixes — scans it.
    """
    cols = ", ".join(f.name for f in EVENTS_SCHEMA)
    where = []
    params: list[object] = []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts <= ?")
        params.append(until)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    con.execute(
        f"""CREATE OR REPLACE TABLE events_base AS
            SELECT {cols},
                   row_number() OVER (PARTITION BY account_id ORDER BY ts, request_id) AS rn
            FROM read_parquet('{_parts(parts)}', union_by_name = true) {clause}""",
        params,
    )
    return scalar(con, "SELECT count(*) FROM events_base")


def load_accounts(con: duckdb.DuckDBPyConnection, parts: Path | None) -> bool:
    """Create the ``accounts`` table (empty with the contract's columns when none were given)."""
    cols = ", ".join(f.name for f in ACCOUNTS_SCHEMA)
    if parts is not None and any(parts.glob("*.parquet")):
        con.execute(
            f"""CREATE OR REPLACE TABLE accounts AS
                SELECT {cols} FROM (
                  SELECT *, row_number() OVER (PARTITION BY account_id) AS _k
                  FROM read_parquet('{_parts(parts)}', union_by_name = true)) WHERE _k = 1"""
        )
        return bool(scalar(con, "SELECT count(*) FROM accounts"))
    empty = ACCOUNTS_SCHEMA.empty_table()
    con.register("_dg_empty_accounts", empty)
    con.execute("CREATE OR REPLACE TABLE accounts AS SELECT * FROM _dg_empty_accounts")
    con.unregister("_dg_empty_accounts")
    return False


def register_events_table(con: duckdb.DuckDBPyConnection, events: pa.Table) -> int:
    """Load an in-memory canonical events table as ``events_base`` (tests, the service)."""
    con.register("_dg_events_in", events)
    cols = ", ".join(f.name for f in EVENTS_SCHEMA)
    con.execute(
        f"""CREATE OR REPLACE TABLE events_base AS
            SELECT {cols}, row_number() OVER (PARTITION BY account_id ORDER BY ts, request_id) AS rn
            FROM _dg_events_in"""
    )
    con.unregister("_dg_events_in")
    return scalar(con, "SELECT count(*) FROM events_base")


REPLAY_EVENTS, REPLAY_FEATURES = "_dg_replay_events", "_dg_replay_features"


def set_scope(con: duckdb.DuckDBPyConnection, prefix: int | None = None, only: str | None = None,
              replay: bool = False) -> None:
    """Point the ``events`` view at the whole window or at each account's first ``prefix`` events.

    ``only`` names a one-column table of account_ids to restrict to (replay evaluates
    just the accounts the full scan flagged). ``replay`` reads the compact copies made by
    :func:`make_replay_tables` instead of the whole window (same rows, far fewer to scan).
    """
    cols = ", ".join(f.name for f in EVENTS_SCHEMA)
    cond = []
    if prefix is not None:
        cond.append(f"rn <= {int(prefix)}")
    if only is not None:
        cond.append(f"account_id IN (SELECT account_id FROM {only})")
    clause = ("WHERE " + " AND ".join(cond)) if cond else ""
    ev, feats = (REPLAY_EVENTS, REPLAY_FEATURES) if replay else ("events_base", "request_features")
    con.execute(f"CREATE OR REPLACE VIEW events AS SELECT {cols} FROM {ev} {clause}")
    if scalar(con, f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{feats}'"):
        con.execute(f"CREATE OR REPLACE VIEW rf AS SELECT * FROM {feats} {clause}")


def make_replay_tables(con: duckdb.DuckDBPyConnection, accounts: str, max_prefix: int) -> None:
    """Copy the events (and request features) replay can ever look at: the first
    ``max_prefix`` events of the accounts in table ``accounts``.

    Every replay prefix then scans this copy instead of the whole window: at millions of
    events the window no longer fits in memory, and 12 prefixes x (features, templating
    sample, window-test sample) full scans of it dominated the replay.
    """
    cond = f"WHERE rn <= {int(max_prefix)} AND account_id IN (SELECT account_id FROM {accounts})"
    con.execute(f"CREATE OR REPLACE TABLE {REPLAY_EVENTS} AS SELECT * FROM events_base {cond}")
    if scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'request_features'"):
        con.execute(f"CREATE OR REPLACE TABLE {REPLAY_FEATURES} AS SELECT * FROM request_features {cond}")


def drop_replay_tables(con: duckdb.DuckDBPyConnection) -> None:
    for t in (REPLAY_EVENTS, REPLAY_FEATURES):
        con.execute(f"DROP TABLE IF EXISTS {t}")
