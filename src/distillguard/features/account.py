"""Per-request and per-account features, computed once in DuckDB and shared by detectors.

``request_features`` runs the rules of :mod:`distillguard.features.text` (the same RE2
patterns, so batch and real-time agree) vectorised over every event, once per scan.
``account_features`` aggregates it per account inside the current scope (the ``rf``
view: the scan window). Detectors read
the table named by ``ctx.artefacts["account_features"]``; :func:`ensure` builds it when a
detector runs on its own (tests, plugins).
"""

from __future__ import annotations

import math
from typing import Any

import duckdb

from distillguard.detectors.base import ScanContext
from distillguard.features import text

REQUEST_FEATURES = "request_features"
ACCOUNT_FEATURES = "account_features"
SCOPED_REQUESTS = "rf"
FRAME_MIN = 3
"""A masked frame reused this often by one account is one of its templates (one repeat is chance)."""
ELICIT_LEVEL = 0.5
"""A request counts as eliciting a trace when its elicitation score reaches this level."""


def _q(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def _elicit_sql() -> str:
    """SQL expression equal to text.elicitation() from the per-category booleans."""
    terms = []
    for name, (w, _) in text.ELICITATION_PATTERNS.items():
        ws = min(1.0, w + text.SYSTEM_PROMPT_BOOST)
        terms.append(f"(CASE WHEN s_{name} THEN {1 - ws!r} WHEN e_{name} THEN {1 - w!r} ELSE 1.0 END)")
    return "1.0 - " + " * ".join(terms)


def request_features_sql(source: str) -> str:
    """SELECT of per-request features over ``source`` (a table/view of canonical events + rn)."""
    h = text.HEAD_CHARS
    fam = " ".join(
        f"WHEN regexp_matches(h, {_q(p)}) THEN '{f}'" for f, p in text.TASK_FAMILY_RULES
    )
    # "1 <= words <= k" where words = len(string_split_regex(trim(h), '\s+')), i.e. at most
    # k - 1 whitespace runs: one RE2 match instead of building a list of words per prompt
    # (~2 µs per event). Inside CASE, so it runs only where a follow-up phrase matched.
    def words_at_most(k: int) -> str:
        return f"regexp_full_match(trim(h), '\\S*(?:\\s+\\S*){{0,{k - 1}}}')"
    e_cols = ", ".join(
        f"regexp_matches(h2, {_q(p)}) AS e_{n}, (s <> '' AND regexp_matches(s, {_q(p)})) AS s_{n}"
        for n, (_, p) in text.ELICITATION_PATTERNS.items()
    )
    return f"""
    SELECT request_id, account_id, ts, rn, conversation_id, ip, user_agent,
           coalesce(prompt_tokens, 0) AS pt, coalesce(completion_tokens, 0) AS ct,
           coalesce(reasoning_tokens, 0) AS rt,
           CASE {fam} ELSE 'other' END AS family,
           {_elicit_sql()} AS elicit,
           (e_forced_format OR s_forced_format) AS forced_format,
           (s_cot OR s_full_trace OR s_forced_format) AS sys_elicit,
           CASE WHEN h IS NULL THEN NULL ELSE
             (CASE WHEN regexp_matches(h, {_q(text.FOLLOWUP_STRONG)}) OR regexp_matches(h, {_q(text.FOLLOWUP_LEADING)})
                   THEN {words_at_most(text.FOLLOWUP_MAX_WORDS)} ELSE false END)
             OR (CASE WHEN regexp_matches(h, {_q(text.FOLLOWUP_PRONOUN)}) THEN {words_at_most(6)} ELSE false END)
           END AS followup,
           hash(prompt) AS phash,
           hash(array_to_string(list_slice(string_split({_mask_sql(f"left(prompt, {text.FRAME_CHARS})")}, ' '), 1, {text.FRAME_WORDS}), ' '))
             AS frame_key,
           list_transform(list_slice(list_filter(list_transform(
               list_slice(string_split_regex(lower(left(prompt, {text.POOL_CHARS})), {_q(text.POOL_SPLIT)}), 1,
                          {4 * text.POOL_SEGMENTS}),
               lambda x: regexp_replace(x, {_q(text.POOL_STRIP)}, '', 'g')),
               lambda x: length(x) >= {text.POOL_MIN_CHARS}), 1, {text.POOL_SEGMENTS}), lambda x: hash(x)) AS pkeys,
           length(prompt) AS plen
    FROM (
      SELECT *, {e_cols}
      FROM (
        SELECT *, left(prompt, {h}) AS h,
               CASE WHEN length(prompt) > {h} THEN left(prompt, {h}) || chr(10) || right(prompt, {h})
                    ELSE prompt END AS h2,
               left(coalesce(system_prompt, ''), {4 * h}) AS s
        FROM {source}))
    """


def _mask_sql(col: str) -> str:
    """SQL equal to text.mask(col): the same RE2 rules in order, trimmed, lower-cased."""
    expr = col
    for pat, rep in text.MASK_RULES:
        expr = f"regexp_replace({expr}, {_q(pat)}, {_q(rep)}, 'g')"
    return f"lower(trim({expr}))"


def build_request_features(con: duckdb.DuckDBPyConnection, source: str = "events_base",
                           table: str = REQUEST_FEATURES) -> None:
    """Materialise per-request features for every event of ``source`` (needs column ``rn``)."""
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {request_features_sql(source)}")
    _client_kinds(con, table)


def _client_kinds(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Classify the (few) distinct user agents in Python with text.client_kind."""
    uas = [r[0] for r in con.execute(f"SELECT DISTINCT user_agent FROM {table}").fetchall()]
    rows = [(ua, text.client_kind(ua)) for ua in uas if ua is not None]
    con.execute("CREATE OR REPLACE TABLE client_kinds (user_agent VARCHAR, kind VARCHAR)")
    if rows:
        con.executemany("INSERT INTO client_kinds VALUES (?, ?)", rows)


N_FAMILIES = len(text.TASK_FAMILIES)
DATACENTER_PREFIXES = ("3.", "13.", "18.", "34.", "35.", "52.", "54.", "20.", "40.", "104.")
"""First octets mostly announced by large clouds (AWS, GCP, Azure). A weak, public hint only."""


def _accounts_source(con: duckdb.DuckDBPyConnection) -> str:
    """A SELECT over ``accounts`` with every contract column (absent ones as NULL)."""
    from distillguard.schema import ACCOUNT_COLUMNS

    have = {r[0] for r in con.execute("DESCRIBE accounts").fetchall()}
    cols = [c.name if c.name in have else f"NULL::{_SQL_TYPES.get(str(c.type), 'VARCHAR')} AS {c.name}"
            for c in ACCOUNT_COLUMNS]
    return f"(SELECT {', '.join(cols)} FROM accounts)"


_SQL_TYPES = {"timestamp[us, tz=UTC]": "TIMESTAMPTZ", "bool": "BOOLEAN", "string": "VARCHAR"}


def build_account_features(con: duckdb.DuckDBPyConnection, rf: str = SCOPED_REQUESTS,
                           table: str = ACCOUNT_FEATURES) -> None:
    """Aggregate the scoped request features per account, joined with account metadata."""
    dc = " OR ".join(f"starts_with(ip, '{p}')" for p in DATACENTER_PREFIXES)
    # Ties between equally common families go to the first in TASK_FAMILIES (as in features.stream).
    fam_list = "[" + ", ".join(_q(f) for f in text.TASK_FAMILIES) + "]"
    acc = _accounts_source(con)
    con.execute(f"""
    CREATE OR REPLACE TABLE {table} AS
    WITH r AS (SELECT r.*, coalesce(k.kind, 'none') AS client
               FROM {rf} r LEFT JOIN client_kinds k USING (user_agent)),
    gaps AS (SELECT account_id,
                    epoch(ts) - epoch(lag(ts) OVER (PARTITION BY account_id ORDER BY ts, request_id)) AS d
             FROM r),
    g AS (SELECT account_id, avg(d) AS gap_mean, stddev_pop(d) AS gap_sd, count(d) AS n_gaps,
                 max(d) AS gap_max, avg(CASE WHEN d < 1 THEN 1.0 ELSE 0.0 END) AS burst_share
          FROM gaps WHERE d IS NOT NULL GROUP BY account_id),
    days AS (SELECT account_id, date_trunc('day', ts) AS day, count(DISTINCT hour(ts)) AS hrs, count(*) AS n
             FROM r GROUP BY ALL),
    dd AS (SELECT account_id, max(hrs) AS max_day_hours, count(*) AS active_days,
                  max(n) AS max_day_requests FROM days GROUP BY account_id),
    fam AS (SELECT account_id, family, count(*) AS c FROM r GROUP BY ALL),
    fe AS (SELECT f.account_id, -sum((c / t) * ln(c / t)) AS fam_entropy, count(*) AS n_families,
                  max(c / t) AS top_family_share,
                  arg_max(family, c * 1000 - list_position({fam_list}, family)) AS top_family
           FROM fam f JOIN (SELECT account_id, sum(c) AS t FROM fam GROUP BY account_id) USING (account_id)
           GROUP BY f.account_id),
    conv AS (SELECT account_id, conversation_id, count(*) AS turns FROM r
             WHERE conversation_id IS NOT NULL GROUP BY ALL),
    cv AS (SELECT account_id, count(*) AS n_conversations,
                  sum(CASE WHEN turns >= 2 THEN turns ELSE 0 END) AS multi_turn_requests
           FROM conv GROUP BY account_id),
    a AS (SELECT account_id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
                 sum(pt)::DOUBLE AS prompt_tokens, sum(ct)::DOUBLE AS completion_tokens, sum(rt)::DOUBLE AS reasoning_tokens,
                 avg(CASE WHEN elicit >= {ELICIT_LEVEL} THEN 1.0 ELSE 0.0 END) AS elicit_share,
                 avg(CASE WHEN forced_format THEN 1.0 ELSE 0.0 END) AS format_share,
                 avg(CASE WHEN sys_elicit THEN 1.0 ELSE 0.0 END) AS sys_elicit_share,
                 avg(elicit) AS elicit_mean,
                 avg(CASE WHEN followup THEN 1.0 ELSE 0.0 END) AS followup_share,
                 count(DISTINCT phash) AS distinct_prompts,
                 count(DISTINCT hour(ts)) AS active_hours,
                 count(DISTINCT ip) AS n_ips,
                 count(DISTINCT nullif(regexp_extract(ip, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1), '')) AS n_subnets,
                 avg(CASE WHEN {dc} THEN 1.0 ELSE 0.0 END) AS datacenter_share,
                 count(DISTINCT user_agent) AS n_user_agents,
                 avg(CASE WHEN client = 'http_lib' THEN 1.0 ELSE 0.0 END) AS http_lib_share,
                 avg(CASE WHEN client = 'browser' THEN 1.0 ELSE 0.0 END) AS browser_share,
                 avg(CASE WHEN client = 'sdk' THEN 1.0 ELSE 0.0 END) AS sdk_share,
                 arg_max(user_agent, ts) AS last_user_agent,
                 arg_min(request_id, hash(request_id), 5) AS ex_any,
                 arg_min(request_id, hash(request_id), 5) FILTER (WHERE elicit >= {ELICIT_LEVEL}) AS ex_elicit
          FROM r GROUP BY account_id),
    fr AS (SELECT account_id, frame_key, count(*) AS c FROM r GROUP BY ALL),
    frs AS (SELECT account_id, coalesce(sum(c) FILTER (WHERE c >= {FRAME_MIN}), 0) AS n_framed,
                   count(*) FILTER (WHERE c >= {FRAME_MIN}) AS n_frames, max(c) AS top_frame
            FROM fr GROUP BY account_id),
    ac AS {acc},
    pay AS (SELECT payment_fingerprint, count(*) AS accounts_on_card FROM ac
            WHERE payment_fingerprint IS NOT NULL GROUP BY ALL)
    SELECT a.*, g.gap_mean, g.gap_sd, coalesce(g.n_gaps, 0) AS n_gaps, g.gap_max,
           coalesce(g.burst_share, 0.0) AS burst_share,
           dd.max_day_hours, dd.active_days, dd.max_day_requests,
           fe.fam_entropy, fe.n_families, fe.top_family_share, fe.top_family,
           coalesce(cv.n_conversations, 0) AS n_conversations,
           coalesce(cv.multi_turn_requests, 0) / a.n AS multi_turn_share,
           ac.created_at, ac.email, ac.payment_fingerprint, ac.country, ac.signup_ip, ac.verified, ac.tier,
           coalesce(pay.accounts_on_card, 0) AS accounts_on_card,
           frs.n_framed::BIGINT AS n_framed, frs.n_frames, frs.top_frame
    FROM a LEFT JOIN g USING (account_id) LEFT JOIN frs USING (account_id) LEFT JOIN dd USING (account_id)
         LEFT JOIN fe USING (account_id) LEFT JOIN cv USING (account_id)
         LEFT JOIN ac USING (account_id)
         LEFT JOIN pay ON pay.payment_fingerprint = ac.payment_fingerprint
    """)


def max_entropy() -> float:
    """Entropy of a perfectly even spread over all task families (natural log)."""
    return math.log(N_FAMILIES)


def ensure(ctx: ScanContext) -> str:
    """Name of the account-features table for this context, building it if needed.

    The scan engine builds it once per scope and stores the name under
    ``ctx.artefacts["account_features"]``; a detector run on a bare context (only the
    ``events``/``accounts`` views) gets it built here from ``events``.
    """
    name = ctx.artefacts.get("account_features")
    if name:
        return str(name)
    con = ctx.con
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE OR REPLACE TEMP VIEW _dg_events_rn AS SELECT *, row_number() OVER "
                "(PARTITION BY account_id ORDER BY ts, request_id) AS rn FROM events")
    build_request_features(con, "_dg_events_rn", "_dg_request_features")
    build_account_features(con, "_dg_request_features", "_dg_account_features")
    ctx.artefacts["account_features"] = "_dg_account_features"
    ctx.artefacts["request_features"] = "_dg_request_features"
    return "_dg_account_features"


def fetch(ctx: ScanContext, columns: str) -> list[dict[str, Any]]:
    """Selected account-feature columns as dicts, one per account (small: accounts, not events)."""
    return ctx.con.sql(f"SELECT {columns} FROM {ensure(ctx)} ORDER BY account_id").to_arrow_table().to_pylist()


# ----------------------------------------------------------- fixed score transforms
# Detectors map raw measurements to [0, 1] with these fixed curves (never per-run ranks),
# so a score means the same thing in every world, every --until cut and live.
def sigmoid(x: float) -> float:
    """Logistic function, safe for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def confidence(n: float, half: float) -> float:
    """Evidence weight of ``n`` observations: 0.5 at ``n == half``, → 1 as n grows."""
    return n / (n + half) if n > 0 else 0.0


def clip01(x: float) -> float:
    return 0.0 if x != x else min(1.0, max(0.0, x))


def noisy_or(parts: list[float]) -> float:
    """Probability that at least one independent cue is real (each in [0, 1])."""
    miss = 1.0
    for p in parts:
        miss *= 1.0 - clip01(p)
    return 1.0 - miss


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"
