"""Compact reference sketches of prompt corpora, and matching prompts against them.

Why: distillers reuse public benchmarks and instruction sets (GSM8K, BBH, Alpaca, ...)
because they come with good task coverage for free. A provider can index whatever
corpora it knows about and ask, per account, "what share of these prompts come from a
known dataset, even with numbers changed or words swapped?". No index covers every
attacker's source, so this is one signal among many (detectors/known_corpus.py).

An index is one Parquet file: per indexed prompt the exact hash of its normalised text,
its ``BANDS`` LSH band keys (features.minhash) and a source id; the source names, their
prompt counts and the sketch parameters live in the file's key-value metadata. About 140
bytes per prompt: 100k prompts is ~14 MB and holds no text at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.corpus.read import corpus_files, iter_prompts
from distillguard.errors import InputError
from distillguard.features import minhash

META_KEY = b"distillguard.corpus_index"
FORMAT = 1
_BATCH = 20_000


def _schema(bands: int) -> pa.Schema:
    return pa.schema([pa.field("source", pa.int32()), pa.field("exact", pa.uint64())]
                     + [pa.field(f"b{j}", pa.uint64()) for j in range(bands)])


def build_index(path: str | Path, out: str | Path, *, min_tokens: int = 4,
                on_prompts: Callable[[int], None] | None = None) -> dict[str, object]:
    """Sketch every prompt under ``path`` into the Parquet index ``out``; returns its metadata.

    Prompts shorter than ``min_tokens`` tokens ("hi", "thanks") are left out: matching
    them says nothing about where a prompt came from.
    """
    files = corpus_files(path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    schema = _schema(minhash.BANDS)
    sources: list[dict[str, object]] = []
    total = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for sid, (name, f) in enumerate(files):
            kept = seen = 0
            buf: list[str] = []

            def flush() -> int:
                sk = minhash.sketch(buf)
                ok = sk.n_tokens >= min_tokens
                exact, bands = sk.exact[ok], sk.bands[ok]
                # one row per distinct normalised prompt of this file
                _, first = np.unique(exact, return_index=True)
                first.sort()
                cols = [pa.array(np.full(len(first), sid, dtype=np.int32)), pa.array(exact[first])]
                cols += [pa.array(bands[first, j]) for j in range(bands.shape[1])]
                writer.write_table(pa.Table.from_arrays(cols, schema=schema))
                return len(first)

            for prompt in iter_prompts(f):
                buf.append(prompt)
                seen += 1
                if len(buf) >= _BATCH:
                    kept += flush()
                    if on_prompts:
                        on_prompts(len(buf))
                    buf = []
            if buf:
                kept += flush()
                if on_prompts:
                    on_prompts(len(buf))
            sources.append({"name": name, "prompts": seen, "indexed": kept})
            total += kept
    meta: dict[str, object] = {"format": FORMAT, "sketch_version": minhash.SKETCH_VERSION,
                               "num_perm": minhash.NUM_PERM, "bands": minhash.BANDS,
                               "min_tokens": min_tokens, "indexed": total, "sources": sources}
    table = pq.read_table(tmp)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    pq.write_table(table, out, compression="zstd")
    tmp.unlink()
    return meta


@dataclass(frozen=True)
class Matches:
    """Per query prompt: matched source id (-1: none), bands matched, exact match."""

    source: np.ndarray  # int32
    bands_matched: np.ndarray  # int64
    exact: np.ndarray  # bool


class CorpusIndex:
    """A loaded index: sorted band keys per band for binary-search matching."""

    def __init__(self, table: pa.Table, meta: dict[str, object]) -> None:
        self.meta = meta
        self.sources: list[str] = [str(s["name"]) for s in meta["sources"]]  # type: ignore[index, union-attr]
        self._source = table.column("source").to_numpy().astype(np.int32)
        self._keys: list[tuple[np.ndarray, np.ndarray]] = []
        for name in ["exact"] + [f"b{j}" for j in range(int(meta["bands"]))]:  # type: ignore[call-overload]
            col = table.column(name).to_numpy()
            order = np.argsort(col, kind="stable")
            self._keys.append((col[order], order))

    def __len__(self) -> int:
        return len(self._source)

    def _lookup(self, j: int, q: np.ndarray) -> np.ndarray:
        keys, order = self._keys[j]
        if len(keys) == 0:
            return np.full(len(q), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        return np.where((keys[pos] == q) & (q != 0), order[pos], -1)

    def match(self, sketch: minhash.Sketch, *, min_bands: int = 2) -> Matches:
        """Match prompts: exact normalised text, or at least ``min_bands`` shared LSH bands.

        Two shared bands (of 16 × 4 rows) happen for ~99% of pairs with Jaccard 0.8 and
        <1% of pairs with Jaccard 0.3, so reworded copies match and unrelated prompts do not.
        """
        n = len(sketch.exact)
        exact_row = self._lookup(0, sketch.exact)
        count = np.zeros(n, dtype=np.int64)
        row = exact_row.copy()
        for j in range(sketch.bands.shape[1]):
            r = self._lookup(j + 1, sketch.bands[:, j])
            hit = r >= 0
            count += hit
            row = np.where((row < 0) & hit, r, row)
        ok = (exact_row >= 0) | (count >= min_bands)
        src = np.where(ok & (row >= 0), self._source[np.maximum(row, 0)], -1).astype(np.int32)
        return Matches(src, count, exact_row >= 0)


def load_index(path: str | Path) -> CorpusIndex:
    """Load an index written by :func:`build_index` (clear errors for anything else)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("corpus index not found (build one with `distillguard corpus index`)", source=str(p))
    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a Parquet corpus index: {e}", source=str(p)) from e
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise InputError("Parquet file is not a distillguard corpus index", source=str(p))
    meta = json.loads(raw)
    if meta.get("sketch_version") != minhash.SKETCH_VERSION or meta.get("bands") != minhash.BANDS:
        raise InputError(f"index built with sketch version {meta.get('sketch_version')}, this distillguard uses "
                         f"{minhash.SKETCH_VERSION}: rebuild it", source=str(p))
    return CorpusIndex(table, meta)
