"""Normalise once: read provider files, check the contract, write canonical Parquet.

The output is a folder of Parquet parts in the canonical schema (extra columns kept),
plus a quarantine JSONL holding every unusable row with its file, row number and reason.
Downstream code (DuckDB views, detectors) only ever sees the canonical parts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.config import IngestConfig
from distillguard.errors import SchemaError
from distillguard.ingest.formats import NESTED_MARK, BadLine, detect_format, is_nested, iter_chunks, resolve_inputs
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

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind, "read": self.read, "used": self.used, "quarantined": self.quarantined,
            "reasons": dict(self.reasons.most_common()), "files": self.files,
            "output": self.output, "quarantine_file": self.quarantine_file,
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


def ingest(
    spec: str | Path,
    kind: str,
    out_dir: str | Path,
    config: IngestConfig | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> IngestReport:
    """Validate ``spec`` (file, folder or glob) and write canonical Parquet parts.

    ``on_rows`` is called with the number of rows handled after each chunk (progress).
    Raises SchemaError when a file lacks a required column: nothing in it could be used.
    """
    cfg = config or IngestConfig()
    columns, id_col = KINDS[kind]
    limits = Limits(cfg.max_prompt_chars, cfg.max_row_bytes)
    out = Path(out_dir)
    parts = out / kind
    parts.mkdir(parents=True, exist_ok=True)
    for old in parts.glob("part-*.parquet"):
        old.unlink()
    qpath = out / f"{kind}.quarantine.jsonl"
    report = IngestReport(kind=kind, output=str(parts), quarantine_file=str(qpath))
    seen: set[int] = set()
    files = resolve_inputs(spec, stem=kind)
    need = required(columns)
    part_no = 0
    with open(qpath, "w", encoding="utf-8") as q:
        for path in files:
            detect_format(path)
            report.files.append(str(path))
            checked_header = False
            for table, rows, bad in iter_chunks(path, cfg.batch_rows):
                if table.num_rows and not checked_header:
                    missing = [c for c in need if c not in table.column_names]
                    if missing:
                        raise SchemaError(
                            f"missing required column(s) {missing}; found {table.column_names}", source=str(path)
                        )
                    checked_header = True
                _write_bad_lines(q, path, bad, report)
                if not table.num_rows:
                    continue
                typed, ok, reasons = check_chunk(table, columns, limits, seen, id_col)
                n_ok = int(ok.sum())
                report.read += table.num_rows
                report.used += n_ok
                for i in np.flatnonzero(~ok):
                    report.quarantined += 1
                    for r in reasons[i]:
                        report.reasons[_reason_key(r)] += 1
                    q.write(json.dumps({"file": str(path), "row": rows[i], "reason": "; ".join(reasons[i]),
                                        "record": _raw_record(table, i)}, default=str) + "\n")
                if n_ok:
                    good = typed.filter(pa.array(ok))
                    pq.write_table(good, parts / f"part-{part_no:05d}.parquet")
                    part_no += 1
                if on_rows:
                    on_rows(table.num_rows + len(bad))
    if part_no == 0:  # an empty but valid dataset keeps the schema for readers
        from distillguard.schema import arrow_schema

        pq.write_table(arrow_schema(columns).empty_table(), parts / "part-00000.parquet")
    return report


def _write_bad_lines(q, path: Path, bad: list[BadLine], report: IngestReport) -> None:  # type: ignore[no-untyped-def]
    for b in bad:
        report.read += 1
        report.quarantined += 1
        report.reasons[_reason_key(b.reason)] += 1
        q.write(json.dumps({"file": str(path), "row": b.row, "reason": b.reason, "record": b.raw}) + "\n")
