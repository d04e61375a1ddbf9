"""Row-level checks of the traffic contract.

``check_chunk`` turns a raw chunk into (usable rows in the canonical schema, rejected
rows with reasons). It never drops a row without saying why: every input row ends up in
exactly one of the two outputs, which is what lets ingest print counts that add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.ingest.formats import NESTED_MARK, is_nested
from distillguard.ingest.rules import CONTROL_REGEX, MAX_TOKENS, RuleError, control_char, parse_timestamp, parse_tokens, to_datetime
from distillguard.schema import Column


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_row_bytes: int
    max_field_chars: int = 1024
    naive_zone: tzinfo | None = None


SHORT_COLUMNS = ("request_id", "account_id", "api_key_id", "ip", "user_agent", "model", "conversation_id",
                 "email", "payment_fingerprint", "country", "signup_ip", "tier")
"""Identifier-like columns held to ``ingest.max_field_chars``; text columns have their own limits."""

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _parse_bool(v: str, column: str) -> bool:
    s = v.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    shown = v if len(v) <= 40 else v[:37] + "..."
    raise RuleError(f"wrong type for {column}: expected true or false, got {shown!r}")


def _kind(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_boolean(t):
        return "bool"
    return "string"


def _fast_ok(arr: pa.Array, kind: str) -> bool:
    """Whether a column that cast in one go also obeys the value rules (ranges, signs)."""
    if kind == "int64":
        mm = pc.min_max(arr).as_py()
        return mm["min"] is None or (mm["min"] >= 0 and mm["max"] <= MAX_TOKENS)
    if kind == "timestamp":
        mm = pc.min_max(arr.cast(pa.int64())).as_py()
        return mm["min"] is None or (mm["min"] >= 0 and mm["max"] < _MAX_TS_US)
    return True


_MAX_TS_US = 7_258_118_400 * 1_000_000


def _coerce(col: pa.ChunkedArray, c: Column, reasons: list[list[str]], limits: Limits | None = None) -> pa.Array:
    """Cast one column to its contract type; values that cannot be cast get a reason.

    Numbers and times follow :mod:`distillguard.ingest.rules` (the same rule as the
    service): out-of-range or negative token counts, naive or date-only times are
    quarantined with a reason, never a crash.
    """
    kind = _kind(c.type)
    naive_zone = limits.naive_zone if limits else None
    if kind == "timestamp" and pa.types.is_timestamp(col.type) and col.type.tz is None:
        if naive_zone is None:  # a zone-less Parquet timestamp column: same rule as naive text
            for i in np.flatnonzero(pc.is_valid(col).to_numpy(zero_copy_only=False)):
                reasons[i].append(f"unparseable timestamp: {c.name} column has no time zone "
                                  "(set ingest.naive_timezone or the mapping's zone)")
            return pa.nulls(len(col), c.type)
        col = pc.assume_timezone(col, str(getattr(naive_zone, "key", "UTC")))
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        try:
            arr = col.cast(c.type).combine_chunks()
            if _fast_ok(arr, kind):
                return arr
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        col = col.cast(pa.string())
    if kind == "string":
        arr = col.combine_chunks().cast(pa.string())
        nested = pc.starts_with(arr, NESTED_MARK).fill_null(False).to_numpy(zero_copy_only=False)
        hits = np.flatnonzero(nested)
        for i in hits:
            reasons[i].append(f"wrong type for {c.name}: expected a string, got an object or array")
        if len(hits):
            arr = pc.if_else(pa.array(nested), pa.scalar(None, pa.string()), arr)
        return arr
    try:  # fast path: the whole column casts and obeys the rules
        arr = col.combine_chunks().cast(c.type)
        if _fast_ok(arr, kind):
            return arr
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: list[Any] = []
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            if is_nested(v):
                raise RuleError(f"wrong type for {c.name}: expected a value, got an object or array")
            if kind == "timestamp":
                out.append(to_datetime(parse_timestamp(v, naive_zone)))
            elif kind == "int64":
                out.append(parse_tokens(v, c.name))
            else:
                out.append(_parse_bool(v, c.name))
        except RuleError as e:
            reasons[i].append(str(e))
            out.append(None)
    return pa.array(out, type=c.type)


def check_chunk(
    table: pa.Table, columns: tuple[Column, ...], limits: Limits, seen_ids: set[int] | None, id_column: str,
    reasons: list[list[str]] | None = None,
) -> tuple[pa.Table, np.ndarray, list[list[str]]]:
    """Return (typed table, ok mask, reasons per row).

    ``seen_ids`` carries hashes of ids already accepted across chunks and files, so the
    first occurrence of a duplicate id wins and later ones are quarantined. ``reasons``
    may hold reasons found before (e.g. by a mapping); they are kept.
    """
    n = table.num_rows
    if reasons is None:
        reasons = [[] for _ in range(n)]
    arrays, fields = [], []
    names = {c.name for c in columns}
    for c in columns:
        if c.name in table.column_names:
            arr = _coerce(table.column(c.name), c, reasons, limits)
        else:
            arr = pa.nulls(n, c.type)
        arrays.append(arr)
        fields.append(pa.field(c.name, c.type))
    for name in table.column_names:
        if name not in names:
            col = table.column(name)
            if pa.types.is_null(col.type):
                col = col.cast(pa.string())
            arrays.append(col.combine_chunks())
            fields.append(pa.field(name, arrays[-1].type))
    typed = pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    for c in columns:
        if not c.required:
            continue
        col = typed.column(c.name)
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        if pa.types.is_string(c.type):
            blank = pc.equal(pc.utf8_trim_whitespace(col.fill_null("")), "").to_numpy(zero_copy_only=False)
        else:
            blank = nulls
        for i in np.flatnonzero(blank):
            already = any(r.startswith(("wrong type for " + c.name, "unparseable")) for r in reasons[i])
            if not already:
                reasons[i].append(f"empty {c.name}" if not nulls[i] else f"missing {c.name}")

    for c in columns:
        if not pa.types.is_string(c.type):
            continue
        col = typed.column(c.name)
        if c.name in SHORT_COLUMNS:
            lengths = pc.utf8_length(col.fill_null("")).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(lengths > limits.max_field_chars):
                reasons[i].append(f"absurd size: {c.name} has {lengths[i]:,} characters "
                                  f"(limit {limits.max_field_chars:,})")
        bad = pc.match_substring_regex(col, CONTROL_REGEX).fill_null(False).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(bad):
            ch = control_char(col[i].as_py())
            reasons[i].append(f"control character {ch} in {c.name}")

    if "prompt" in typed.column_names:
        lengths = pc.utf8_length(typed.column("prompt").fill_null("")).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(lengths > limits.max_prompt_chars):
            reasons[i].append(f"absurd size: prompt has {lengths[i]:,} characters (limit {limits.max_prompt_chars:,})")
    row_bytes = np.zeros(n, dtype=np.int64)
    for name in typed.column_names:
        col = typed.column(name)
        if pa.types.is_string(col.type):
            row_bytes += pc.binary_length(col.fill_null("")).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(row_bytes > limits.max_row_bytes):
        reasons[i].append(f"absurd size: row has {row_bytes[i]:,} bytes (limit {limits.max_row_bytes:,})")

    if seen_ids is not None and id_column in typed.column_names:
        _mark_duplicates(typed.column(id_column), reasons, seen_ids, id_column)

    ok = np.array([not r for r in reasons], dtype=bool)
    return typed, ok, reasons


def _mark_duplicates(ids: pa.ChunkedArray, reasons: list[list[str]], seen_ids: set[int], id_column: str) -> None:
    """Quarantine repeated ids: the first clean occurrence (this chunk or earlier) wins.

    Same rule as a row-by-row scan (rows that already have a reason or a null id are
    skipped and never claim an id), done with one hash pass, a stable ``np.unique`` for
    repeats inside the chunk and one set lookup per distinct id.
    """
    clean = np.fromiter((not r for r in reasons), dtype=bool, count=len(reasons))
    clean &= pc.is_valid(ids).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(clean)
    if len(rows) == 0:
        return
    values = ids.take(pa.array(rows)).to_pylist()
    hashes = np.fromiter((hash(v) for v in values), dtype=np.int64, count=len(values))
    uniq, first = np.unique(hashes, return_index=True)
    dup = np.ones(len(rows), dtype=bool)
    dup[first] = False
    known = np.fromiter((int(h) in seen_ids for h in uniq), dtype=bool, count=len(uniq))
    dup[first[known]] = True
    seen_ids.update(int(h) for h in uniq[~known])
    for j in np.flatnonzero(dup):
        reasons[rows[j]].append(f"duplicate {id_column} {values[j]!r} (first occurrence kept)")
