"""Reading a provider's files in any format of the contract, keeping row numbers.

Each reader yields ``(table, first_row)`` chunks whose columns are as found in the file:
strings for text formats, native types for Parquet. Row numbers are 1-based data rows
(the CSV header is not counted; in JSONL the row is the line number, blank lines
included), so a quarantine report points at the exact record.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from distillguard.errors import InputError

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}


def detect_format(path: Path) -> tuple[str, bool]:
    """Return (format, gzipped) from a file name such as ``events.jsonl.gz``."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt, gz
    raise InputError(
        "unknown file type: use .parquet, .jsonl[.gz], .ndjson[.gz] or .csv[.gz]", source=str(path)
    )


def resolve_inputs(spec: str | Path, stem: str | None = None) -> list[Path]:
    """Expand a file, a folder or a glob into a sorted list of data files.

    In a folder, ``stem`` (e.g. ``events``) narrows the match to ``events*.<fmt>`` so a
    provider folder holding events, accounts and labels can be passed as is.
    """
    text = str(spec)
    p = Path(text)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = [f for f in sorted(p.rglob("*")) if f.is_file() and _is_data(f)]
        if stem:  # events.parquet, events-01.jsonl, events/part-0.parquet, or a folder named events*
            named = [f for f in files if f.name.startswith(stem)
                     or any(part.startswith(stem) for part in f.relative_to(p).parts[:-1])]
            files = named if named or not p.name.startswith(stem) else files
        if not files:
            what = f"'{stem}*' data files" if stem else "data files"
            raise InputError(f"no {what} in this folder", source=text)
        return files
    matches = [Path(m) for m in sorted(glob.glob(text, recursive=True)) if Path(m).is_file()]
    if not matches:
        raise InputError("no such file, folder or glob match", source=text)
    return matches


def _is_data(f: Path) -> bool:
    try:
        detect_format(f)
        return True
    except InputError:
        return False


@dataclass(frozen=True)
class BadLine:
    """A record that could not even be parsed (e.g. broken JSON)."""

    row: int
    reason: str
    raw: str


def iter_chunks(path: Path, batch_rows: int) -> Iterator[tuple[pa.Table, list[int], list[BadLine]]]:
    """Yield (table, row_numbers, unparseable_lines) chunks of a file."""
    fmt, gz = detect_format(path)
    try:
        if fmt == "parquet":
            yield from _parquet(path, batch_rows)
        elif fmt == "jsonl":
            yield from _jsonl(path, gz, batch_rows)
        else:
            yield from _csv(path, gz, batch_rows)
    except (OSError, EOFError, pa.ArrowException) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"cannot read {fmt} file: {e}", source=str(path)) from e


def _parquet(path: Path, batch_rows: int) -> Iterator[tuple[pa.Table, list[int], list[BadLine]]]:
    pf = pq.ParquetFile(path)
    row = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        n = batch.num_rows
        yield pa.Table.from_batches([batch]), list(range(row, row + n)), []
        row += n


def _open_text(path: Path, gz: bool) -> io.TextIOBase:
    if gz:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _jsonl(path: Path, gz: bool, batch_rows: int) -> Iterator[tuple[pa.Table, list[int], list[BadLine]]]:
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[BadLine] = []
    with _open_text(path, gz) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                bad.append(BadLine(lineno, f"invalid JSON: {e.msg}", line.rstrip("\n")))
                continue
            if not isinstance(rec, dict):
                bad.append(BadLine(lineno, "JSON line is not an object", line.rstrip("\n")))
                continue
            records.append(rec)
            rows.append(lineno)
            if len(records) >= batch_rows:
                yield _records_table(records), rows, bad
                records, rows, bad = [], [], []
    if records or bad:
        yield _records_table(records), rows, bad


def _records_table(records: list[dict[str, Any]]) -> pa.Table:
    """Columns of JSON values kept as Python objects in string form for validation."""
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    cols = {}
    for k in names:
        vals = [r.get(k) for r in records]
        cols[k] = pa.array([_jsonish(v) for v in vals], type=pa.string())
    return pa.table(cols) if cols else pa.table({})


NESTED_MARK = "\x00nested\x00"


def _jsonish(v: Any) -> str | None:
    """Scalars become strings; nested values become a marker that fails type checks."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return NESTED_MARK + json.dumps(v)
    return str(v)


def is_nested(value: str) -> bool:
    return value.startswith(NESTED_MARK)


def _csv(path: Path, gz: bool, batch_rows: int) -> Iterator[tuple[pa.Table, list[int], list[BadLine]]]:
    with _open_text(path, gz) as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return
    opener = gzip.open(path, "rb") if gz else open(path, "rb")
    with opener as raw:
        reader = pacsv.open_csv(
            raw,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=False,
            ),
        )
        row = 1
        for batch in reader:
            table = pa.Table.from_batches([batch])
            for start in range(0, table.num_rows, batch_rows):
                part = table.slice(start, batch_rows)
                yield part, list(range(row, row + part.num_rows)), []
                row += part.num_rows
