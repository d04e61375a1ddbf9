"""Prompt sources: a corpus folder of real prompts, or the built-in generator.

A corpus folder has the layout ``<category>/<source>.jsonl.gz`` with records
``{"id", "turns": [...], "source", optional "template", "subset"}``. Personas and
campaigns select files by glob (``"reasoning_problems/gsm8k*"``), so a benchmark can make
attackers draw from files a detector's index never saw. Families (chat, math, ...) map to
globs through the scenario's ``[sources]`` table.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distillguard.errors import ConfigError, InputError
from distillguard.simulate import textgen

Record = tuple[str, ...]

# Default family -> corpus globs (the layout of ../shared/corpus).
DEFAULT_SOURCES: dict[str, list[str]] = {
    "chat": ["human_chat/*"],
    "factual": ["human_instructions/nq_open*"],
    "business": ["human_instructions/*"],
    "instructions": ["synthetic_instructions/alpaca*", "synthetic_instructions/glaive*"],
    "code": ["synthetic_instructions/code_alpaca*", "reasoning_problems/mbpp*", "reasoning_problems/humaneval*"],
    "math": ["reasoning_problems/gsm8k*"],
    "reasoning": ["reasoning_problems/*"],
    "templated": ["templated_tasks/*"],
}


@dataclass
class PromptSource:
    """Draws prompt records for a family (or explicit globs) from a corpus or the generator."""

    corpus: Path | None = None
    sources: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_SOURCES))
    _files: dict[str, list[tuple[Record, str | None]]] = field(default_factory=dict, repr=False)

    def _load_file(self, path: Path) -> list[tuple[Record, str | None]]:
        key = str(path)
        if key not in self._files:
            recs: list[tuple[Record, str | None]] = []
            with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    d = json.loads(line)
                    turns = tuple(t for t in d.get("turns", []) if isinstance(t, str) and t.strip())
                    if turns:
                        recs.append((turns, d.get("template")))
            self._files[key] = recs
        return self._files[key]

    def files_for(self, globs: list[str]) -> list[Path]:
        """Corpus files matching globs (sorted, so worlds do not depend on directory order)."""
        assert self.corpus is not None
        out: list[Path] = []
        for g in globs:
            pat = g if g.endswith((".gz", ".jsonl")) else g + ".jsonl*"
            hits = sorted(p for p in self.corpus.glob(pat) if p.is_file())
            if not hits:
                raise ConfigError(f"no corpus files match {g!r} under {self.corpus}", source="sources")
            out.extend(h for h in hits if h not in out)
        return out

    def pool(self, family: str, globs: list[str] | None = None) -> list[tuple[Record, str | None]]:
        """Every record available for a family from the corpus (empty in built-in mode)."""
        if self.corpus is None:
            return []
        if globs is None:
            if family not in self.sources:
                raise ConfigError(f"no corpus sources configured for family {family!r}", source="sources")
            globs = self.sources[family]
        recs: list[tuple[Record, str | None]] = []
        for p in self.files_for(globs):
            recs.extend(self._load_file(p))
        return recs

    def draw(self, rng: np.random.Generator, family: str, n: int, *, globs: list[str] | None = None,
             template: str | None = None) -> list[Record]:
        """``n`` records for a family. With a corpus, ``template`` keeps one template family."""
        if n <= 0:
            return []
        if self.corpus is None:
            return textgen.generate(rng, family, n, template)
        pool = self.pool(family, globs)
        if template is not None:
            pool = [r for r in pool if r[1] == template] or pool
        if not pool:
            raise InputError(f"corpus has no records for family {family!r}", source=str(self.corpus))
        idx = rng.integers(0, len(pool), n)
        return [pool[i][0] for i in idx.tolist()]

    def benchmark(self, rng: np.random.Generator, family: str, n: int, globs: list[str] | None = None) -> list[Record]:
        """A benchmark run: one file, every record once in shuffled order (again if ``n`` exceeds it)."""
        if self.corpus is None:
            return textgen.generate(rng, family, n)
        files = self.files_for(globs if globs is not None else self.sources.get(family, []))
        if not files:
            raise ConfigError(f"no corpus sources configured for family {family!r}", source="sources")
        recs = self._load_file(files[int(rng.integers(0, len(files)))])
        order = rng.permutation(len(recs))
        return [recs[i][0] for i in order[np.arange(n) % len(recs)].tolist()]

    def templates(self, rng: np.random.Generator, family: str, globs: list[str] | None = None) -> str | None:
        """Pick one template family (a pipeline's single task) for templated prompts."""
        if self.corpus is None:
            names = sorted(textgen.TEMPLATE_FAMILIES)
            return names[int(rng.integers(0, len(names)))]
        names = sorted({t for _, t in self.pool(family, globs) if t})
        return names[int(rng.integers(0, len(names)))] if names else None

    def describe(self) -> str:
        return str(self.corpus) if self.corpus else "builtin"


def open_source(corpus: str | Path | None, sources: dict[str, list[str]] | None = None) -> PromptSource:
    """Build a PromptSource, checking the corpus folder exists."""
    merged = dict(DEFAULT_SOURCES)
    merged.update(sources or {})
    if corpus is None:
        return PromptSource(None, merged)
    p = Path(corpus)
    if not p.is_dir():
        raise InputError("corpus folder not found", source=str(p))
    return PromptSource(p, merged)
