"""Per-request and per-account features on Spark, equal to the DuckDB scan's.

Per request: each Arrow batch of events runs through an in-process DuckDB inside
``mapInArrow`` with exactly :func:`distillguard.features.account.request_features_sql`, so the
RE2 rules, the masking and the ``hash()`` values are the batch scan's own (one definition,
two engines). DuckDB's 64-bit unsigned hashes become signed BIGINTs for Spark by an
order-preserving shift (``h - 2^63``): equality, distinct counts and "smallest hash first"
orderings are unchanged.

Per account: :func:`account_features` is Spark SQL written to equal
``features.account.build_account_features`` column for column (tests/spark compare the two
on the same events); live detectors then score those rows with their own
``score_features`` (:func:`live_signals`), batch by batch on the executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from distillguard.detectors.base import SIGNAL_SCHEMA, Detector
from distillguard.features import account as fa
from distillguard.features import text
from distillguard.schema import ACCOUNTS_SCHEMA, EVENTS_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SHIFT = "9223372036854775808"


def signed(expr: str) -> str:
    """DuckDB SQL: a UBIGINT hash as an order-preserving signed BIGINT (Spark has no unsigned type)."""
    return f"(({expr})::HUGEINT - {SHIFT})::BIGINT"


def unsigned(expr: str) -> str:
    """DuckDB SQL: the inverse of :func:`signed`, back to the UBIGINT hash the DuckDB scan has."""
    return f"(({expr})::HUGEINT + {SHIFT})::UBIGINT"


def spark_type(t: pa.DataType) -> str:
    """Spark DDL type of an Arrow type used in the contract tables."""
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double"
    return "string"


def ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in schema)


REQUEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "string"), ("account_id", "string"), ("ts", "timestamp"), ("rn", "bigint"),
    ("conversation_id", "string"), ("ip", "string"), ("user_agent", "string"),
    ("pt", "bigint"), ("ct", "bigint"), ("rt", "bigint"), ("family", "string"), ("elicit", "double"),
    ("forced_format", "boolean"), ("sys_elicit", "boolean"), ("followup", "boolean"),
    ("phash", "bigint"), ("frame_key", "bigint"), ("pkeys", "array<bigint>"), ("plen", "bigint"),
    ("rh", "bigint"), ("raw_hash", "bigint"), ("client", "string"),
)
"""Columns of the Spark request-features table: DuckDB's ``request_features`` plus ``rh``
(hash of request_id: the sample and example order), ``raw_hash`` (hash of the unmasked
prompt, templates' slot diversity) and ``client`` (text.client_kind of the user agent)."""
REQUEST_DDL = ", ".join(f"{n} {t}" for n, t in REQUEST_COLUMNS)
_ARROW = {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "bigint": pa.int64(), "double": pa.float64(),
          "boolean": pa.bool_(), "array<bigint>": pa.list_(pa.int64())}
REQUEST_SCHEMA = pa.schema([pa.field(n, _ARROW[t]) for n, t in REQUEST_COLUMNS])
EXTRA_COLUMNS = ("rh", "raw_hash", "client")


@lru_cache(maxsize=1)
def _request_sql() -> str:
    inner = fa.request_features_sql("_dg_batch")
    return f"""
    SELECT f.* REPLACE ({signed('f.phash')} AS phash, {signed('f.frame_key')} AS frame_key,
                        list_transform(f.pkeys, lambda x: {signed("x")}) AS pkeys, f.plen::BIGINT AS plen,
                        f.rn::BIGINT AS rn),
           {signed('hash(f.request_id)')} AS rh, {signed("hash(coalesce(b.prompt, ''))")} AS raw_hash
    FROM ({inner}) f JOIN _dg_batch b USING (request_id)"""


@lru_cache(maxsize=65536)
def _client(ua: str | None) -> str:
    return text.client_kind(ua)


def request_features_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: canonical events (+ ``rn``) → request features, with DuckDB's own SQL."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET threads = 1")  # one Spark task = one core
    con.execute("SET TimeZone = 'UTC'")
    names = [n for n, _ in REQUEST_COLUMNS]
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            con.register("_dg_batch", pa.Table.from_batches([batch]))
            res = con.sql(_request_sql()).to_arrow_table()
            con.unregister("_dg_batch")
            uas = res.column("user_agent").to_pylist()
            res = res.append_column("client", pa.array([_client(u) for u in uas], pa.string()))
            res = res.select(names).cast(REQUEST_SCHEMA)
            for b in res.to_batches():
                yield b
    finally:
        con.close()


def events_base(spark: "SparkSession", parts: str, since: Any = None, until: Any = None) -> "DataFrame":
    """Canonical events inside the window with ``rn``, each event's position in its account's history."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    df = spark.read.parquet(parts)
    cols = [F.col(f.name).cast(spark_type(f.type)).alias(f.name) if f.name in df.columns
            else F.lit(None).cast(spark_type(f.type)).alias(f.name) for f in EVENTS_SCHEMA]
    df = df.select(*cols)
    if since is not None:
        df = df.where(F.col("ts") >= F.lit(since))
    if until is not None:
        df = df.where(F.col("ts") <= F.lit(until))
    w = Window.partitionBy("account_id").orderBy("ts", "request_id")
    return df.withColumn("rn", F.row_number().over(w).cast("bigint"))


def request_features(events: "DataFrame") -> "DataFrame":
    """Per-request features of ``events`` (canonical columns + rn), computed on the executors."""
    return events.mapInArrow(request_features_batches, REQUEST_DDL)


def accounts_frame(spark: "SparkSession", parts: str | None) -> "DataFrame":
    """The accounts table (one row per account, contract columns), empty when none was given."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    if parts is None:
        return spark.createDataFrame(ACCOUNTS_SCHEMA.empty_table())
    df = spark.read.parquet(parts)
    cols = [F.col(f.name).cast(spark_type(f.type)).alias(f.name) if f.name in df.columns
            else F.lit(None).cast(spark_type(f.type)).alias(f.name) for f in ACCOUNTS_SCHEMA]
    w = Window.partitionBy("account_id").orderBy(F.lit(1))
    return df.select(*cols).withColumn("_k", F.row_number().over(w)).where("_k = 1").drop("_k")


def _q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def account_features_sql(rf: str = "rf", accounts: str = "accounts") -> str:
    """Spark SQL equal to DuckDB's ``build_account_features`` over views ``rf`` and ``accounts``."""
    dc = " OR ".join(f"startswith(ip, {_q(p)})" for p in fa.DATACENTER_PREFIXES)
    fam_list = "array(" + ", ".join(_q(f) for f in text.TASK_FAMILIES) + ")"
    el = fa.ELICIT_LEVEL
    return f"""
    WITH r AS (SELECT * FROM {rf}),
    gaps AS (SELECT account_id,
                    CAST(unix_micros(ts) - unix_micros(lag(ts) OVER (PARTITION BY account_id ORDER BY ts, request_id)) AS DOUBLE)
                      / 1000000.0D AS d
             FROM r),
    g AS (SELECT account_id, avg(d) AS gap_mean, stddev_pop(d) AS gap_sd, count(d) AS n_gaps,
                 max(d) AS gap_max, avg(CASE WHEN d < 1 THEN 1.0D ELSE 0.0D END) AS burst_share
          FROM gaps WHERE d IS NOT NULL GROUP BY account_id),
    days AS (SELECT account_id, date_trunc('DAY', ts) AS day, count(DISTINCT hour(ts)) AS hrs, count(*) AS n
             FROM r GROUP BY account_id, date_trunc('DAY', ts)),
    dd AS (SELECT account_id, max(hrs) AS max_day_hours, count(*) AS active_days,
                  max(n) AS max_day_requests FROM days GROUP BY account_id),
    fam AS (SELECT account_id, family, count(*) AS c FROM r GROUP BY account_id, family),
    fe AS (SELECT f.account_id, -sum((c / t) * ln(c / t)) AS fam_entropy, count(*) AS n_families,
                  max(c / t) AS top_family_share,
                  max_by(family, c * 1000 - array_position({fam_list}, family)) AS top_family
           FROM fam f JOIN (SELECT account_id, sum(c) AS t FROM fam GROUP BY account_id) USING (account_id)
           GROUP BY f.account_id),
    conv AS (SELECT account_id, conversation_id, count(*) AS turns FROM r
             WHERE conversation_id IS NOT NULL GROUP BY account_id, conversation_id),
    cv AS (SELECT account_id, count(*) AS n_conversations,
                  sum(CASE WHEN turns >= 2 THEN turns ELSE 0 END) AS multi_turn_requests
           FROM conv GROUP BY account_id),
    ranked AS (SELECT account_id, request_id, elicit,
                      row_number() OVER (PARTITION BY account_id ORDER BY rh, request_id) AS k_any,
                      CASE WHEN elicit >= {el} THEN row_number() OVER (
                        PARTITION BY account_id, elicit >= {el} ORDER BY rh, request_id) END AS k_el
               FROM r),
    ex AS (SELECT account_id,
                  transform(array_sort(collect_list(CASE WHEN k_any <= 5 THEN struct(k_any, request_id) END)),
                            x -> x.request_id) AS ex_any,
                  transform(array_sort(collect_list(CASE WHEN k_el <= 5 THEN struct(k_el, request_id) END)),
                            x -> x.request_id) AS ex_elicit
           FROM ranked WHERE k_any <= 5 OR k_el <= 5 GROUP BY account_id),
    a AS (SELECT account_id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
                 CAST(sum(pt) AS DOUBLE) AS prompt_tokens, CAST(sum(ct) AS DOUBLE) AS completion_tokens,
                 CAST(sum(rt) AS DOUBLE) AS reasoning_tokens,
                 avg(CASE WHEN elicit >= {el} THEN 1.0D ELSE 0.0D END) AS elicit_share,
                 avg(CASE WHEN forced_format THEN 1.0D ELSE 0.0D END) AS format_share,
                 avg(CASE WHEN sys_elicit THEN 1.0D ELSE 0.0D END) AS sys_elicit_share,
                 avg(elicit) AS elicit_mean,
                 avg(CASE WHEN followup THEN 1.0D ELSE 0.0D END) AS followup_share,
                 count(DISTINCT phash) AS distinct_prompts,
                 count(DISTINCT hour(ts)) AS active_hours,
                 count(DISTINCT ip) AS n_ips,
                 count(DISTINCT nullif(regexp_extract(ip, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1), '')) AS n_subnets,
                 avg(CASE WHEN {dc} THEN 1.0D ELSE 0.0D END) AS datacenter_share,
                 count(DISTINCT user_agent) AS n_user_agents,
                 avg(CASE WHEN client = 'http_lib' THEN 1.0D ELSE 0.0D END) AS http_lib_share,
                 avg(CASE WHEN client = 'browser' THEN 1.0D ELSE 0.0D END) AS browser_share,
                 avg(CASE WHEN client = 'sdk' THEN 1.0D ELSE 0.0D END) AS sdk_share,
                 max_by(user_agent, ts) FILTER (WHERE user_agent IS NOT NULL) AS last_user_agent
          FROM r GROUP BY account_id),
    fr AS (SELECT account_id, frame_key, count(*) AS c FROM r GROUP BY account_id, frame_key),
    frs AS (SELECT account_id, coalesce(sum(c) FILTER (WHERE c >= {fa.FRAME_MIN}), 0) AS n_framed,
                   count(*) FILTER (WHERE c >= {fa.FRAME_MIN}) AS n_frames, max(c) AS top_frame
            FROM fr GROUP BY account_id),
    ac AS (SELECT * FROM {accounts}),
    pay AS (SELECT payment_fingerprint, count(*) AS accounts_on_card FROM ac
            WHERE payment_fingerprint IS NOT NULL GROUP BY payment_fingerprint)
    SELECT a.*, ex.ex_any, CASE WHEN size(ex.ex_elicit) > 0 THEN ex.ex_elicit END AS ex_elicit,
           g.gap_mean, g.gap_sd, coalesce(g.n_gaps, 0) AS n_gaps, g.gap_max,
           coalesce(g.burst_share, 0.0D) AS burst_share,
           dd.max_day_hours, dd.active_days, dd.max_day_requests,
           fe.fam_entropy, fe.n_families, fe.top_family_share, fe.top_family,
           coalesce(cv.n_conversations, 0) AS n_conversations,
           coalesce(cv.multi_turn_requests, 0) / a.n AS multi_turn_share,
           ac.created_at, ac.email, ac.payment_fingerprint, ac.country, ac.signup_ip, ac.verified, ac.tier,
           coalesce(pay.accounts_on_card, 0) AS accounts_on_card,
           CAST(frs.n_framed AS BIGINT) AS n_framed, frs.n_frames, frs.top_frame
    FROM a LEFT JOIN ex USING (account_id) LEFT JOIN g USING (account_id) LEFT JOIN frs USING (account_id)
         LEFT JOIN dd USING (account_id) LEFT JOIN fe USING (account_id) LEFT JOIN cv USING (account_id)
         LEFT JOIN ac USING (account_id)
         LEFT JOIN pay ON pay.payment_fingerprint = ac.payment_fingerprint
    """


def account_features(spark: "SparkSession", rf: "DataFrame", accounts: "DataFrame") -> "DataFrame":
    """One row of aggregates per account: the columns of DuckDB's ``account_features``."""
    rf.createOrReplaceTempView("_dg_rf")
    accounts.createOrReplaceTempView("_dg_accounts")
    return spark.sql(account_features_sql("_dg_rf", "_dg_accounts"))


SIGNAL_DDL = "account_id string, score double, value double, detail string, examples array<string>, signal string"


def _score_batches(dets: dict[str, Detector]) -> Any:
    """``mapInArrow`` body scoring account-feature rows with each live detector's ``score_features``."""
    from distillguard.detectors.base import signal_table

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows = batch.to_pylist()
            for name, det in dets.items():
                t = signal_table([det.score_features(r) for r in rows])
                t = t.append_column("signal", pa.array([name] * t.num_rows, pa.string()))
                for b in t.to_batches():
                    yield b
    return run


def live_signals(af: "DataFrame", dets: dict[str, Detector]) -> dict[str, pa.Table]:
    """Live detectors' SIGNAL_SCHEMA tables, scored on the executors from Spark's account features.

    Only the features each detector declares travel (plus account_id); the result is one row
    per account and detector, small enough for the driver's decide/ step.
    """
    if not dets:
        return {}
    cols = list(dict.fromkeys(["account_id", *[c for d in dets.values() for c in d.features]]))
    have = set(af.columns)
    scored = af.select(*[c for c in cols if c in have]).mapInArrow(_score_batches(dets), SIGNAL_DDL).toArrow()
    out: dict[str, pa.Table] = {}
    for name in dets:
        mask = pa.compute.equal(scored.column("signal"), name)
        t = scored.filter(mask).drop(["signal"]).sort_by("account_id")
        out[name] = t.select([f.name for f in SIGNAL_SCHEMA]).cast(SIGNAL_SCHEMA)
    return out


__all__ = ["REQUEST_COLUMNS", "REQUEST_DDL", "SIGNAL_DDL", "account_features", "account_features_sql",
           "accounts_frame", "events_base", "live_signals", "request_features", "request_features_batches",
           "signed"]
