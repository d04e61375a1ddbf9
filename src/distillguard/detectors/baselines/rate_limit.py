"""The trivial baseline: a requests-per-day threshold, what most API gateways do.

It is the floor every other detector must beat. Its score reaches the default flag
level (0.8) exactly when an account's busiest UTC day reaches ``daily_limit`` requests,
and the watch level (0.5) at a quarter of it.
"""

from __future__ import annotations

import pyarrow as pa

from distillguard.detectors.base import SIGNAL_SCHEMA, Detector, ScanContext


class RequestsPerDay(Detector):
    name = "rate_limit"
    version = "1"
    required_columns = ("request_id", "ts", "account_id")
    description = "Peak requests per UTC day against a fixed limit."
    kind = "baseline"

    def __init__(self, *, daily_limit: int = 2000) -> None:
        self.daily_limit = daily_limit

    def detect(self, ctx: ScanContext) -> pa.Table:
        q = f"""
        WITH daily AS (
            SELECT account_id, date_trunc('day', ts) AS day, count(*) AS n,
                   min(request_id) AS example
            FROM events GROUP BY 1, 2
        ), peak AS (
            SELECT account_id, max(n) AS peak, arg_max(day, n) AS peak_day, arg_max(example, n) AS example
            FROM daily GROUP BY 1
        )
        SELECT account_id,
               peak / (peak + {self.daily_limit} / 4.0) AS score,
               peak::DOUBLE AS value,
               format('busiest day {{}} had {{:,}} requests (limit {self.daily_limit:,}/day)',
                      strftime(peak_day, '%Y-%m-%d'), peak) AS detail,
               [example] AS examples
        FROM peak ORDER BY account_id
        """

        return ctx.con.sql(q).to_arrow_table().cast(SIGNAL_SCHEMA)
