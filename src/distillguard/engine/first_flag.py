"""``first_flag_ts`` from the stream: the exact event at which an account's evidence crossed ``flag``.

The scan knows an account is flagged once it has seen the whole window; an analyst (and
the damage metric, *exchanges harvested before detection*) needs to know *when* the
evidence was first there. The flagged accounts' events are fed, in time order, through
the same :class:`~distillguard.engine.live.LiveEngine` the guard runs, with the accounts
table as its accounts feed, and the time of the event at which the live verdict first
became ``flag`` (own evidence, or a strong tie to an account flagged earlier) is recorded.
The per-request features come from the scan's own ``request_features`` table (the
vectorised form of :func:`distillguard.features.stream.request_features`), so the stream
costs an aggregate update and a score per event, and stops at each account's first flag.

Accounts the live signals never flag (their evidence is a batch signal: world template
clusters, the window test, a corpus index, or a Leiden campaign) are flagged when the
batch sees them; see :func:`distillguard.scan.run` for how those times are set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from distillguard.config import Settings
from distillguard.engine.live import LiveEngine
from distillguard.features.stream import FAMILY_INDEX, AccountAggregate, RequestFeatures

BATCH_ROWS = 50_000

_SELECT = """
SELECT e.account_id, e.request_id, epoch(e.ts) AS t, rf.family, rf.elicit, rf.forced_format, rf.sys_elicit,
       coalesce(rf.followup, false) AS followup, rf.phash, rf.frame_key, rf.pkeys, hash(e.request_id) AS rid_hash,
       coalesce(k.kind, 'none') AS client, e.ip,
       nullif(regexp_extract(e.ip, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1), '') AS subnet,
       ({dc}) AS datacenter, e.user_agent, e.conversation_id, rf.pt, rf.ct, rf.rt
FROM events_base e JOIN request_features rf USING (request_id)
     LEFT JOIN client_kinds k ON k.user_agent = e.user_agent
JOIN {accounts} lim ON lim.account_id = e.account_id
WHERE lim.until_ts IS NULL OR e.ts <= lim.until_ts
ORDER BY e.ts, e.request_id
"""


def stream_first_flags(con: duckdb.DuckDBPyConnection, flagged: list[str], settings: Settings,
                       engine: LiveEngine | None = None,
                       until: dict[str, datetime] | None = None) -> dict[str, datetime]:
    """Account → time of the event at which the live engine first flagged it (only those it flags).

    ``until`` bounds each account's stream: when the caller already knows a time at which the
    account was flagged (the batch replay), only an earlier crossing matters."""
    from distillguard.features.account import DATACENTER_PREFIXES

    if not flagged:
        return {}
    eng = engine or LiveEngine(settings)
    if not eng.profiles:
        for p in con.sql("SELECT * FROM accounts").to_arrow_table().to_pylist():
            eng.learn_account(p)
    ids = sorted(flagged)
    lim = until or {}
    con.register("_dg_ff_in", pa.table({"account_id": pa.array(ids, pa.string()),
                                        "until_ts": pa.array([lim.get(a) for a in ids], pa.timestamp("us", "UTC"))}))
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_ff AS SELECT * FROM _dg_ff_in")
    con.unregister("_dg_ff_in")
    dc = " OR ".join(f"starts_with(e.ip, '{p}')" for p in DATACENTER_PREFIXES)
    reader = con.sql(_SELECT.format(dc=dc, accounts="_dg_ff")).to_arrow_reader(BATCH_ROWS)
    aggs: dict[str, AccountAggregate] = {}
    found: dict[str, datetime] = {}
    fam_of = FAMILY_INDEX
    other = len(FAMILY_INDEX) - 1
    for batch in reader:
        for r in batch.to_pylist():
            aid = r["account_id"]
            if aid in found:
                continue
            agg = aggs.get(aid)
            if agg is None:
                agg = aggs[aid] = AccountAggregate(aid)
            f = _features(r, fam_of, other)
            eng.observe(agg, f)
            s = eng.score(agg, explain=False)
            if s.verdict == "flag":
                found[aid] = _when(r["t"])
    con.execute("DROP TABLE IF EXISTS _dg_ff")
    return found


def _features(r: dict[str, Any], fam_of: dict[str, int], other: int) -> RequestFeatures:
    ip = r["ip"]
    return RequestFeatures(
        ts=float(r["t"]), request_id=r["request_id"], rid_hash=int(r["rid_hash"]),
        family=fam_of.get(r["family"], other), elicit=float(r["elicit"]), forced_format=bool(r["forced_format"]),
        sys_elicit=bool(r["sys_elicit"]), followup=bool(r["followup"]), phash=int(r["phash"]),
        frame_key=int(r["frame_key"]), pkeys=tuple(int(k) for k in r["pkeys"] or ()),
        client=r["client"], ip=ip, subnet=r["subnet"], datacenter=bool(r["datacenter"]),
        user_agent=r["user_agent"], conversation_id=r["conversation_id"],
        pt=int(r["pt"]), ct=int(r["ct"]), rt=int(r["rt"]))


def _when(t: float) -> datetime:
    from datetime import timezone
    return datetime.fromtimestamp(t, tz=timezone.utc)
