"""Read prompts from a corpus folder or file, one source name per file.

Accepted layouts (those of ../shared/corpus and of anything a provider may hold):
``*.jsonl`` / ``*.jsonl.gz`` records with ``turns`` (every turn is a prompt) or a
``prompt`` / ``text`` / ``instruction`` field, and ``*.txt`` / ``*.txt.gz`` with one
prompt per line. A folder is read recursively in sorted order, so an index built twice
from the same files is byte-identical.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, Iterator

from distillguard.errors import InputError

SUFFIXES = (".jsonl", ".jsonl.gz", ".txt", ".txt.gz")
_TEXT_KEYS = ("prompt", "text", "instruction", "question", "input")


def corpus_files(path: str | Path) -> list[tuple[str, Path]]:
    """(source name, file) pairs: the name is the path relative to a folder, or the file name."""
    p = Path(path)
    if p.is_file():
        if not p.name.endswith(SUFFIXES):
            raise InputError(f"not a corpus file (expected {', '.join(SUFFIXES)})", source=str(p))
        return [(p.name, p)]
    if not p.is_dir():
        raise InputError("no such file or folder", source=str(p))
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES))
    if not files:
        raise InputError(f"no corpus files ({', '.join(SUFFIXES)}) in this folder", source=str(p))
    return [(f.relative_to(p).as_posix(), f) for f in files]


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("rt", encoding="utf-8", errors="replace")


def _record_prompts(rec: object) -> list[str]:
    if isinstance(rec, str):
        return [rec]
    if not isinstance(rec, dict):
        return []
    turns = rec.get("turns")
    if isinstance(turns, list):
        return [t for t in turns if isinstance(t, str) and t.strip()]
    for k in _TEXT_KEYS:
        v = rec.get(k)
        if isinstance(v, str) and v.strip():
            return [v]
    return []


def iter_prompts(path: Path) -> Iterator[str]:
    """Every prompt of one corpus file (bad JSON lines raise InputError with the line number)."""
    is_json = ".jsonl" in path.name
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if not is_json:
                yield line
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON: {e.msg}", source=f"{path}:{lineno}") from e
            yield from _record_prompts(rec)
