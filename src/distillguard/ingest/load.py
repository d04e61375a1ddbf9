"""Normalise once: read provider files, check the contract, write canonical Parquet.

The output is a folder of Parquet parts in the canonical schema (extra columns kept),
plus a quarantine JSONL holding every unusable row with its file, row number and reason.
Downstream code (DuckDB views, detectors) only ever sees the canonical parts.
"""

from __future__ import annotations

import gc
import json
import shutil
from contextlib import contextmanager
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from distillguard.config import IngestConfig
from distillguard.errors import SchemaError
from distillguard.ingest import rules
from distillguard.ingest.formats import (NESTED_MARK, BadLine, Chunk, ReadOptions, detect_format, is_nested, iter_chunks,
                                         iter_objects, resolve_inputs)
from distillguard.ingest.mapping import ConversationState, Mapping, load_mapping
from distillguard.ingest.validate import Limits, check_chunk
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, Column, required

KINDS: dict[str, tuple[tuple[Column, ...], str]] = {
    "events": (EVENT_COLUMNS, "request_id"),
    "accounts": (ACCOUNT_COLUMNS, "account_id"),
}


@dataclass
class IngestReport:
    """Counts that add up: read == used + quarantined, per file and overall."""

    kind: str
    read: int = 0
    used: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    output: str = ""
    quarantine_file: str = ""
    mapping: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind, "read": self.read, "used": self.used, "quarantined": self.quarantined,
            "reasons": dict(self.reasons.most_common()), "files": self.files,
            "output": self.output, "quarantine_file": self.quarantine_file, "mapping": self.mapping,
        }


def _reason_key(reason: str) -> str:
    """Group reasons for the summary ('duplicate request_id 'x'' -> 'duplicate request_id')."""
    for sep in (":", " '", ' "', " ("):
        if sep in reason:
            reason = reason.split(sep, 1)[0]
    return reason


def _raw_record(table: pa.Table, i: int) -> dict[str, object]:
    rec = {}
    for name in table.column_names:
        v = table.column(name)[i].as_py()
        if isinstance(v, str) and is_nested(v):
            v = json.loads(v[len(NESTED_MARK):])
        rec[name] = v if not hasattr(v, "isoformat") else v.isoformat()
    return rec


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while reading.

    Ingest allocates millions of short-lived, acyclic objects (parsed records, values) and
    keeps some alive (duplicate-id hashes, conversation keys); the collector's full passes
    over that growing heap cost more than the parsing itself (≈2x at 300k events).
    Reference counting still frees everything; the collector resumes afterwards.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def ingest(
    spec: str | Path | list[str | Path],
    kind: str,
    out_dir: str | Path,
    config: IngestConfig | None = None,
    on_rows: Callable[[int], None] | None = None,
    mapping: Mapping | str | Path | None = None,
) -> IngestReport:
    """Validate ``spec`` (file, folder, glob, or a list of them) and write canonical Parquet parts.

    ``mapping`` (a :class:`~distillguard.ingest.mapping.Mapping`, a profile name or a
    TOML file) translates a provider's own format first. ``on_rows`` is called with the
    number of rows handled after each chunk (progress). Raises SchemaError when a file
    lacks a required column: nothing in it could be used.
    """
    with _no_gc():
        return _ingest(spec, kind, out_dir, config, on_rows, mapping)


def _ingest(
    spec: str | Path | list[str | Path],
    kind: str,
    out_dir: str | Path,
    config: IngestConfig | None = None,
    on_rows: Callable[[int], None] | None = None,
    mapping: Mapping | str | Path | None = None,
) -> IngestReport:
    """The body of :func:`ingest` (which runs it with the cyclic GC paused)."""
    cfg = config or IngestConfig()
    columns, id_col = KINDS[kind]
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    if mapping is not None and mapping.kind != kind:
        raise SchemaError(f"mapping {mapping.name!r} is for {mapping.kind}, not {kind}")
    try:
        naive = rules.zone(cfg.naive_timezone)
    except rules.RuleError as e:
        raise SchemaError(f"ingest.naive_timezone: {e}") from None
    limits = Limits(cfg.max_prompt_chars, cfg.max_row_bytes, cfg.max_field_chars, naive)
    ropts = ReadOptions(cfg.batch_rows, cfg.encoding, cfg.max_row_bytes)
    out = Path(out_dir)
    parts = out / kind
    parts.mkdir(parents=True, exist_ok=True)
    for old in parts.glob("part-*.parquet"):
        old.unlink()
    qpath = out / f"{kind}.quarantine.jsonl"
    report = IngestReport(kind=kind, output=str(parts), quarantine_file=str(qpath))
    if mapping is not None:
        report.mapping = mapping.name
    seen: set[int] = set()
    files = resolve_many(spec, stem=kind, any_name=mapping is not None)
    need = required(columns)
    part_no = 0
    conv = ConversationState() if mapping is not None and mapping.messages is not None else None
    staging = out / f".{kind}-staging" if conv is not None else None
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    with open(qpath, "w", encoding="utf-8") as q:
        for path in files:
            detect_format(path)
            report.files.append(str(path))
            checked_header = False
            chunks = iter_mapped(path, mapping, ropts, conv) if mapping is not None else iter_chunks(path, ropts)
            for ch in chunks:
                table, rows, bad = ch.table, ch.rows, ch.bad
                if table.num_rows and not checked_header:
                    if mapping is None:
                        missing = [c for c in need if c not in table.column_names]
                        if missing:
                            raise SchemaError(
                                f"missing required column(s) {missing}; found {table.column_names}"
                                + _map_hint(table.column_names), source=str(path))
                    else:
                        empty = [c for c in need if table.column(c).null_count == table.num_rows]
                        if empty:
                            srcs = dict(mapping.describe())
                            raise SchemaError(
                                f"mapping {mapping.name!r} found no value for required column(s) {empty} in the "
                                f"first {table.num_rows:,} records ("
                                + "; ".join(f"{c} from {srcs.get(c)}" for c in empty)
                                + "): is this the right --map?", source=str(path))
                    checked_header = True
                _write_bad_lines(q, path, bad, report)
                if not table.num_rows:
                    continue
                typed, ok, reasons = check_chunk(table, columns, limits, seen, id_col, ch.reasons)
                n_ok = int(ok.sum())
                report.read += table.num_rows
                report.used += n_ok
                for i in np.flatnonzero(~ok):
                    report.quarantined += 1
                    for r in reasons[i]:
                        report.reasons[_reason_key(r)] += 1
                    rec = ch.raw[i] if ch.raw is not None else _raw_record(table, i)
                    q.write(json.dumps({"file": str(path), "row": rows[i], "reason": "; ".join(reasons[i]),
                                        "record": rec}, default=str, ensure_ascii=False) + "\n")
                if n_ok:
                    good = typed.filter(pa.array(ok))
                    if staging is not None:  # conversation ids settle at the end: stage as Arrow IPC
                        with pa.OSFile(str(staging / f"part-{part_no:05d}.arrow"), "wb") as sink, \
                                pa.ipc.new_file(sink, good.schema) as w:
                            w.write_table(good)
                    else:
                        pq.write_table(good, parts / f"part-{part_no:05d}.parquet")
                    part_no += 1
                if on_rows:
                    on_rows(table.num_rows + len(bad))
    if staging is not None and conv is not None:
        _settle_conversations(staging, parts, conv.single_turn())
    if part_no == 0:  # an empty but valid dataset keeps the schema for readers
        from distillguard.schema import arrow_schema

        pq.write_table(arrow_schema(columns).empty_table(), parts / "part-00000.parquet")
    return report


def _map_hint(found: list[str]) -> str:
    """Point at --map when the columns look like a known provider format."""
    f = set(found)
    if {"created", "messages"} <= f or "choices" in f:
        return " — this looks like OpenAI logs: try --map openai"
    if "startTime" in f and "messages" in f:
        return " — this looks like a LiteLLM spend log: try --map litellm"
    if "resourceSpans" in f:
        return " — this looks like OpenTelemetry spans: try --map otel"
    if "messages" in f:
        return " — a 'messages' list needs a mapping: see --map (docs/mappings.md)"
    return " (a mapping can rename fields: see --map, docs/mappings.md)"


def resolve_many(spec: str | Path | list[str | Path], stem: str, any_name: bool = False) -> list[Path]:
    """Files of one spec or of several (an unquoted shell glob arrives as several paths).

    In a folder, only ``<stem>*`` files are read, unless ``any_name`` (a provider's own
    logs read through a mapping): then every data file except ``accounts*`` / ``labels*``.
    """
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    if not specs:
        raise SchemaError("no input given")
    files: list[Path] = []
    seen: set[Path] = set()
    for s in specs:
        found = resolve_inputs(s, stem=None if any_name else stem)
        if any_name and Path(str(s)).is_dir():
            found = [f for f in found if not f.name.startswith(("accounts", "labels"))]
            if not found:
                raise SchemaError("no log files in this folder (besides accounts/labels)", source=str(s))
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def _settle_conversations(staging: Path, parts: Path, single_turn: set[str]) -> None:
    """Write the staged parts as Parquet, without the derived conversation ids of
    single-turn requests (by request id; see ingest/mapping.py)."""
    lonely = pa.array(list(single_turn), pa.string()) if single_turn else None
    try:
        for f in sorted(staging.glob("part-*.arrow")):
            with pa.memory_map(str(f), "r") as src:
                t = pa.ipc.open_file(src).read_all()
            if lonely is not None:
                col = t.column("conversation_id")
                hit = pc.and_(pc.is_in(t.column("request_id"), value_set=lonely),
                              pc.starts_with(col, "m-").fill_null(False))
                if pc.any(hit).as_py():
                    t = t.set_column(t.column_names.index("conversation_id"), "conversation_id",
                                     pc.if_else(hit, pa.scalar(None, pa.string()), col))
            pq.write_table(t, parts / f"{f.stem}.parquet")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def iter_mapped(path: Path, mapping: Mapping, opts: ReadOptions,
                conv: ConversationState | None = None) -> Iterator[Chunk]:
    """Chunks of a file read through ``mapping``: contract columns, reasons, source records."""
    fmt, gz = detect_format(path)
    if fmt == "jsonl":
        recs: list[Any] = []
        rows: list[int] = []
        bad: list[BadLine] = []
        for item in iter_objects(path, gz, opts):
            if isinstance(item, BadLine):
                bad.append(item)
                continue
            lineno, rec = item
            for r in mapping.explode(rec):
                recs.append(r)
                rows.append(lineno)
            if len(recs) >= opts.batch_rows:
                yield _mapped_chunk(mapping, recs, rows, bad, None, conv)
                recs, rows, bad = [], [], []
        if recs or bad:
            yield _mapped_chunk(mapping, recs, rows, bad, None, conv)
        return
    for ch in iter_chunks(path, opts):
        recs = ch.table.to_pylist()
        if mapping.records is not None:
            exploded, rows2, pre2 = [], [], []
            for i, r in enumerate(recs):
                for x in mapping.explode(r):
                    exploded.append(x)
                    rows2.append(ch.rows[i])
                    pre2.append(list(ch.reasons[i]) if ch.reasons else [])
            yield _mapped_chunk(mapping, exploded, rows2, ch.bad, pre2, conv)
        else:
            yield _mapped_chunk(mapping, recs, ch.rows, ch.bad, ch.reasons, conv)


def _mapped_chunk(mapping: Mapping, recs: list[Any], rows: list[int], bad: list[BadLine],
                  pre: list[list[str]] | None, conv: ConversationState | None = None) -> Chunk:
    table, reasons = mapping.apply(recs, conv)
    if pre and any(pre):
        if reasons is None:
            reasons = [[] for _ in range(len(recs))]
        for i, r in enumerate(pre):
            if r:
                reasons[i][:0] = r
    return Chunk(table, rows, bad, reasons, recs)


def _write_bad_lines(q, path: Path, bad: list[BadLine], report: IngestReport) -> None:  # type: ignore[no-untyped-def]
    for b in bad:
        report.read += 1
        report.quarantined += 1
        report.reasons[_reason_key(b.reason)] += 1
        q.write(json.dumps({"file": str(path), "row": b.row, "reason": b.reason, "record": b.raw},
                           ensure_ascii=False) + "\n")
