"""The findings contract: what every detector run (ours or a baseline) writes.

A findings folder holds ``accounts.parquet`` (one row per scanned account) and
``campaigns.json`` (coordinated groups). The evaluator, the HTML report, the intel
exporter and the real-time service read only this, so any detector that writes it can be
compared, reported and shared the same way. docs/findings.md documents it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.errors import InputError, SchemaError
from distillguard.schema import TS

Verdict = Literal["clear", "watch", "flag"]
VERDICTS: tuple[str, ...] = ("clear", "watch", "flag")

REASON_TYPE = pa.struct(
    [
        pa.field("signal", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("weight", pa.float64()),
        pa.field("detail", pa.string()),
    ]
)

ACCOUNT_FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string()),
        pa.field("first_flag_ts", TS),
        pa.field("reasons", pa.list_(REASON_TYPE)),
    ]
)

ACCOUNTS_FILE = "accounts.parquet"
CAMPAIGNS_FILE = "campaigns.json"


@dataclass(frozen=True)
class Reason:
    """One piece of evidence behind a score, written so an analyst can check it."""

    signal: str
    value: float
    weight: float
    detail: str


@dataclass(frozen=True)
class Campaign:
    """A group of accounts acting together, with what ties them."""

    id: str
    account_ids: list[str]
    score: float
    first_seen: str | None
    last_seen: str | None
    request_count: int
    signals: dict[str, float] = field(default_factory=dict)
    shared_infrastructure: dict[str, Any] = field(default_factory=dict)
    example_request_ids: list[str] = field(default_factory=list)
    atlas_techniques: list[str] = field(default_factory=list)
    provider: str | None = None
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Campaign":
        known = {f for f in cls.__dataclass_fields__}
        missing = {"id", "account_ids", "score"} - d.keys()
        if missing:
            raise SchemaError(f"campaign lacks {sorted(missing)}")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Findings:
    """A findings folder in memory."""

    accounts: pa.Table
    campaigns: list[Campaign]
    meta: dict[str, Any] = field(default_factory=dict)


def account_table(rows: Iterable[dict[str, Any]], *, provider: bool = False) -> pa.Table:
    """Build ``accounts.parquet`` rows from dicts (reasons as lists of Reason or dicts)."""
    schema = ACCOUNT_FINDINGS_SCHEMA
    if provider:
        schema = schema.append(pa.field("provider", pa.string()))
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    for r in rows:
        for name in cols:
            v = r.get(name)
            if name == "reasons":
                v = [asdict(x) if isinstance(x, Reason) else x for x in (v or [])]
            cols[name].append(v)
    return pa.Table.from_pydict(cols, schema=schema)


def validate_accounts(table: pa.Table, source: str = ACCOUNTS_FILE) -> pa.Table:
    missing = [f.name for f in ACCOUNT_FINDINGS_SCHEMA if f.name not in table.column_names]
    if missing:
        raise SchemaError(f"findings lack columns {missing}", source=source)
    scores = table.column("score").to_pylist()
    bad = [s for s in scores if s is None or math.isnan(s) or not 0.0 <= s <= 1.0]
    if bad:
        raise SchemaError(f"{len(bad)} scores outside [0, 1], e.g. {bad[0]}", source=source)
    verdicts = set(table.column("verdict").to_pylist())
    if not verdicts <= set(VERDICTS):
        raise SchemaError(f"unknown verdicts {sorted(verdicts - set(VERDICTS))}", source=source)
    ids = table.column("account_id")
    key = ["account_id", "provider"] if "provider" in table.column_names else ["account_id"]
    if table.select(key).group_by(key).aggregate([]).num_rows != len(ids):
        raise SchemaError("account_id is not unique", source=source)
    return table


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_findings(findings: Findings, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    validate_accounts(findings.accounts)
    pq.write_table(findings.accounts, out / ACCOUNTS_FILE)
    doc = {"meta": findings.meta, "campaigns": [c.to_dict() for c in findings.campaigns]}
    (out / CAMPAIGNS_FILE).write_text(json.dumps(doc, indent=2, default=_json_default))
    return out


def read_findings(path: str | Path) -> Findings:
    p = Path(path)
    acc = p / ACCOUNTS_FILE
    if not acc.exists():
        raise InputError(f"no {ACCOUNTS_FILE} here: is this a findings folder?", source=str(p))
    table = validate_accounts(pq.read_table(acc), source=str(acc))
    campaigns: list[Campaign] = []
    meta: dict[str, Any] = {}
    cfile = p / CAMPAIGNS_FILE
    if cfile.exists():
        try:
            doc = json.loads(cfile.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e}", source=str(cfile)) from e
        meta = doc.get("meta", {})
        campaigns = [Campaign.from_dict(c) for c in doc.get("campaigns", [])]
    return Findings(table, campaigns, meta)
