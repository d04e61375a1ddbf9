"""The traffic contract: the one place that says what a provider's logs look like.

Every module downstream of ingest (features, detectors, simulator output, the online
service) relies on these Arrow schemas and nothing else. docs/schema.md is the human
version of this file; tests check the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool
    meaning: str


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("request_id", pa.string(), True, "unique id of the API request"),
    Column("ts", TS, True, "request time, UTC (RFC 3339 in text formats)"),
    Column("account_id", pa.string(), True, "billed customer account"),
    Column("api_key_id", pa.string(), False, "API key used"),
    Column("ip", pa.string(), False, "client IPv4/IPv6 address"),
    Column("user_agent", pa.string(), False, "client / SDK string"),
    Column("model", pa.string(), False, "model requested"),
    Column("conversation_id", pa.string(), False, "links the turns of one chat"),
    Column("system_prompt", pa.string(), False, "system prompt sent with the request"),
    Column("prompt", pa.string(), True, "the user message of this request"),
    Column("response", pa.string(), False, "model output text"),
    Column("prompt_tokens", pa.int64(), False, "input tokens billed"),
    Column("completion_tokens", pa.int64(), False, "output tokens billed"),
    Column("reasoning_tokens", pa.int64(), False, "hidden reasoning tokens billed"),
)

ACCOUNT_COLUMNS: tuple[Column, ...] = (
    Column("account_id", pa.string(), True, "billed customer account"),
    Column("created_at", TS, False, "signup time"),
    Column("email", pa.string(), False, "email as the provider holds it"),
    Column("payment_fingerprint", pa.string(), False, "card fingerprint; same card gives the same value, across providers too"),
    Column("country", pa.string(), False, "ISO 3166 alpha-2 country code"),
    Column("signup_ip", pa.string(), False, "IP address at signup"),
    Column("verified", pa.bool_(), False, "identity verification passed"),
    Column("tier", pa.string(), False, "plan tier, e.g. free, build, scale, enterprise"),
)

LABEL_COLUMNS: tuple[Column, ...] = (
    Column("account_id", pa.string(), True, "account the label is about"),
    Column("provider", pa.string(), True, "provider whose account it is"),
    Column("label", pa.string(), True, "benign or distillation"),
    Column("persona", pa.string(), True, "benign persona or campaign type that generated it"),
    Column("campaign_id", pa.string(), False, "campaign the account belongs to (distillation only)"),
    Column("actor_id", pa.string(), False, "actor that owns the campaign (distillation only)"),
)

LABELS = ("benign", "distillation")


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in columns])


EVENTS_SCHEMA = arrow_schema(EVENT_COLUMNS)
ACCOUNTS_SCHEMA = arrow_schema(ACCOUNT_COLUMNS)
LABELS_SCHEMA = arrow_schema(LABEL_COLUMNS)


def required(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns if c.required]


def conform(table: pa.Table, columns: tuple[Column, ...]) -> pa.Table:
    """Order and type a table's contract columns, adding absent optional ones as nulls.

    Extra columns are kept after the contract columns: the contract says unknown
    columns are carried, not rejected.
    """
    names = [c.name for c in columns]
    arrays, fields = [], []
    for c in columns:
        if c.name in table.column_names:
            arrays.append(table.column(c.name).cast(c.type))
        else:
            arrays.append(pa.nulls(table.num_rows, c.type))
        fields.append(pa.field(c.name, c.type))
    for name in table.column_names:
        if name not in names:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
