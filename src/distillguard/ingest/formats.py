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
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson
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
    """A record that could not even be parsed (e.g. broken JSON, bytes invalid in the encoding)."""

    row: int
    reason: str
    raw: str


@dataclass
class Chunk:
    """A batch of one file: raw columns, their 1-based rows, unparseable lines and reasons found so far.

    ``reasons`` (one list per table row) carries problems seen while reading, e.g. a CSV
    field whose bytes are invalid in the encoding (the value is nulled, the row is
    quarantined). ``raw`` optionally holds the source records, for the quarantine file.
    """

    table: pa.Table
    rows: list[int]
    bad: list[BadLine]
    reasons: list[list[str]] | None = None
    raw: list[Any] | None = None


@dataclass(frozen=True)
class ReadOptions:
    batch_rows: int = 100_000
    encoding: str = "utf-8"
    max_line_bytes: int = 2_000_000


def iter_chunks(path: Path, opts: ReadOptions | int) -> Iterator[Chunk]:
    """Yield :class:`Chunk` batches of a file (columns as found: strings in text formats)."""
    if isinstance(opts, int):
        opts = ReadOptions(batch_rows=opts)
    fmt, gz = detect_format(path)
    try:
        if fmt == "parquet":
            yield from _parquet(path, opts.batch_rows)
        elif fmt == "jsonl":
            yield from _jsonl(path, gz, opts)
        else:
            yield from _csv(path, gz, opts)
    except (OSError, EOFError, pa.ArrowException) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"cannot read {fmt} file: {e}", source=str(path)) from e
    except LookupError as e:  # an unknown --encoding
        raise InputError(f"unknown encoding: {e}", source=str(path)) from e


def _parquet(path: Path, batch_rows: int) -> Iterator[Chunk]:
    pf = pq.ParquetFile(path)
    row = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        n = batch.num_rows
        yield Chunk(pa.Table.from_batches([batch]), list(range(row, row + n)), [])
        row += n


def _binary(path: Path, gz: bool) -> Any:
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _decode_error(e: UnicodeDecodeError, encoding: str) -> str:
    return f"invalid {encoding} at byte {e.start}: {e.object[e.start:e.start + 4]!r}"


def _loads(text: str) -> Any:
    """orjson for speed; the standard library for what orjson refuses (NaN, integers past 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def iter_records(path: Path, gz: bool, opts: ReadOptions) -> Iterator[tuple[int, Any] | BadLine]:
    """JSON records of a JSONL file (one per line) or a .json file holding one array.

    Each line is decoded strictly in ``opts.encoding``: a line with invalid bytes becomes a
    :class:`BadLine` naming the byte, never a silently replaced character.
    """
    with _binary(path, gz) as fh:
        head = fh.read(64)
        fh.seek(0)
        is_json = path.name.lower().removesuffix(".gz").endswith(".json")
        if is_json and head.lstrip()[:1] == b"[":
            yield from _json_array(fh.read(), opts)
            return
        if is_json and head.lstrip()[:1] == b"{" and not _one_line_object(fh.readline()):
            fh.seek(0)  # one pretty-printed JSON object spanning lines (e.g. an OTLP export)
            yield from _json_array(b"[" + fh.read() + b"]", opts)
            return
        fh.seek(0)
        for lineno, raw in enumerate(fh, start=1):
            if len(raw) > opts.max_line_bytes:
                yield BadLine(lineno, f"absurd size: line has {len(raw):,} bytes (limit {opts.max_line_bytes:,})",
                              raw[:200].decode(opts.encoding, "replace") + "...")
                continue
            try:
                line = raw.decode(opts.encoding)
            except UnicodeDecodeError as e:
                yield BadLine(lineno, _decode_error(e, opts.encoding), raw.decode(opts.encoding, "replace").rstrip("\n"))
                continue
            if not line.strip():
                continue
            try:
                rec = _loads(line)
            except json.JSONDecodeError as e:
                yield BadLine(lineno, f"invalid JSON: {e.msg}", line.rstrip("\n"))
                continue
            yield lineno, rec


def _one_line_object(line: bytes) -> bool:
    try:
        return isinstance(_loads(line.decode("utf-8", "replace")), dict)
    except json.JSONDecodeError:
        return False


def _json_array(data: bytes, opts: ReadOptions) -> Iterator[tuple[int, Any] | BadLine]:
    try:
        doc = _loads(data.decode(opts.encoding))
    except UnicodeDecodeError as e:
        yield BadLine(1, _decode_error(e, opts.encoding) + " (the whole JSON array is unreadable)", "")
        return
    except json.JSONDecodeError as e:
        yield BadLine(1, f"invalid JSON: {e.msg} (the whole JSON array is unreadable)", "")
        return
    for i, rec in enumerate(doc, start=1):
        yield i, rec


def iter_objects(path: Path, gz: bool, opts: ReadOptions) -> Iterator[BadLine | tuple[int, dict[str, Any]]]:
    """:func:`iter_records`, with a JSON value that is not an object turned into a BadLine."""
    for item in iter_records(path, gz, opts):
        if not isinstance(item, BadLine) and not isinstance(item[1], dict):
            item = BadLine(item[0], "JSON line is not an object", json.dumps(item[1])[:2000])
        yield item


def _jsonl(path: Path, gz: bool, opts: ReadOptions) -> Iterator[Chunk]:
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[BadLine] = []
    for item in iter_objects(path, gz, opts):
        if isinstance(item, BadLine):
            bad.append(item)
            continue
        lineno, rec = item
        records.append(rec)
        rows.append(lineno)
        if len(records) >= opts.batch_rows:
            yield Chunk(_records_table(records), rows, bad)
            records, rows, bad = [], [], []
    if records or bad:
        yield Chunk(_records_table(records), rows, bad)


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


def _csv(path: Path, gz: bool, opts: ReadOptions) -> Iterator[Chunk]:
    with _binary(path, gz) as fh:
        first = fh.readline()
    if not first.strip():
        return
    header = next(csv.reader([first.decode(opts.encoding, "replace").lstrip("\ufeff")]), None)
    if not header:
        return
    utf8 = opts.encoding.replace("_", "-").lower() in ("utf-8", "utf8")
    skipped: list[BadLine] = []
    skipped_rows: set[int] = set()

    def ragged(row: Any) -> str:
        """A record with too few or too many fields: quarantined, the file goes on."""
        n = row.number - 1 if row.number is not None and row.number > 0 else 0  # records count the header
        skipped.append(BadLine(n, f"wrong number of fields: expected {row.expected_columns}, "
                                  f"got {row.actual_columns}", (row.text or "")[:2000]))
        if n:
            skipped_rows.add(n)
        return "skip"

    with _binary(path, gz) as raw:
        reader = pacsv.open_csv(
            raw,
            read_options=pacsv.ReadOptions(block_size=1 << 24, encoding="utf8" if utf8 else opts.encoding,
                                           use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=False, check_utf8=False,
            ),
        )
        row = 1
        for batch in reader:
            table = pa.Table.from_batches([batch])
            for start in range(0, table.num_rows, opts.batch_rows):
                part = table.slice(start, opts.batch_rows)
                part, reasons = _check_text(part, opts.encoding)
                rows = []
                for _ in range(part.num_rows):  # data rows, skipping the numbers of ragged records
                    while row in skipped_rows:
                        row += 1
                    rows.append(row)
                    row += 1
                bad, skipped[:] = list(skipped), []
                yield Chunk(part, rows, bad, reasons)
        if skipped:
            yield Chunk(pa.table({h: pa.array([], pa.string()) for h in header}), [], list(skipped))


def _check_text(table: pa.Table, encoding: str) -> tuple[pa.Table, list[list[str]] | None]:
    """Null out CSV fields whose bytes are not valid text, with a reason for their row."""
    reasons: list[list[str]] | None = None
    for j, name in enumerate(table.column_names):
        col = table.column(j)
        if not pa.types.is_string(col.type):
            continue
        try:
            col.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        if reasons is None:
            reasons = [[] for _ in range(table.num_rows)]
        values = col.cast(pa.binary()).to_pylist()
        fixed: list[str | None] = []
        for i, b in enumerate(values):
            if b is None:
                fixed.append(None)
                continue
            try:
                fixed.append(b.decode("utf-8"))
            except UnicodeDecodeError as e:
                reasons[i].append(f"invalid {encoding} in {name} at byte {e.start}: {b[e.start:e.start + 4]!r}")
                fixed.append(None)
        table = table.set_column(j, name, pa.array(fixed, pa.string()))
    return table, reasons
