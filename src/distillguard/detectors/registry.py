"""Which detectors exist, by name: built-ins listed here, plugins through entry points.

Built-ins are named as ``"module:Class"`` strings so importing the registry stays cheap
and a broken optional detector cannot stop the others from loading. Plugins register
under the ``distillguard.detectors`` entry-point group; names must be unique.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points

from functools import lru_cache

from distillguard.detectors.base import Detector, DetectorMeta
from distillguard.errors import ConfigError

# name -> "module:Class". Signals are combined by decide/; baselines run alone (--detector).
BUILTIN_SIGNALS: dict[str, str] = {
    "volume": "distillguard.detectors.volume:VolumeDetector",
    "automation": "distillguard.detectors.automation:AutomationDetector",
    "templating": "distillguard.detectors.templating:Templating",
    "frames": "distillguard.detectors.frames:Frames",
    "known_corpus": "distillguard.detectors.known_corpus:KnownCorpus",
    "reasoning": "distillguard.detectors.reasoning:ReasoningDetector",
    "coverage": "distillguard.detectors.coverage:CoverageDetector",
    "metadata": "distillguard.detectors.metadata:MetadataDetector",
    "window_test": "distillguard.detectors.window_test:WindowTest",
    "content_pool": "distillguard.detectors.content_pool:ContentPool",
    "intel_match": "distillguard.detectors.intel_match:IntelMatch",
}
BUILTIN_BASELINES: dict[str, str] = {
    "rate_limit": "distillguard.detectors.baselines.rate_limit:RequestsPerDay",
    "prada": "distillguard.detectors.baselines.prada:Prada",
    "seat": "distillguard.detectors.baselines.seat:Seat",
    "cap": "distillguard.detectors.baselines.cap:Cap",
    "mmd": "distillguard.detectors.baselines.mmd:Mmd",
}


def _load(ref: str) -> type[Detector]:
    module, _, cls = ref.partition(":")
    obj = getattr(importlib.import_module(module), cls)
    if not (isinstance(obj, type) and issubclass(obj, Detector)):
        raise ConfigError(f"{ref} is not a Detector subclass")
    return obj


def _plugins() -> dict[str, str]:
    """Plugin detectors by name. Entry-point discovery reads every installed distribution's
    metadata (milliseconds), so it is cached per ``sys.path``: installing a plugin on the path
    is seen, and the scoring hot path does not pay for the scan again."""
    return dict(_plugins_on(tuple(sys.path)))


@lru_cache(maxsize=4)
def _plugins_on(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for ep in entry_points(group="distillguard.detectors"):
        if ep.name in found or ep.name in BUILTIN_SIGNALS or ep.name in BUILTIN_BASELINES:
            raise ConfigError(f"detector name {ep.name!r} is registered twice (plugin {ep.value})")
        found[ep.name] = ep.value
    return tuple(found.items())


def available(kind: str = "all") -> dict[str, str]:
    """Names -> references. kind: 'signals', 'baselines' or 'all' (plugins count as signals)."""
    sig = {**BUILTIN_SIGNALS, **_plugins()}
    if kind == "signals":
        return sig
    if kind == "baselines":
        return dict(BUILTIN_BASELINES)
    return {**sig, **BUILTIN_BASELINES}


def get(name: str) -> type[Detector]:
    refs = available()
    if name not in refs:
        raise ConfigError(f"unknown detector {name!r}; available: {', '.join(sorted(refs))}")
    return _load(refs[name])


def create(name: str, params: dict[str, object] | None = None) -> Detector:
    cls = get(name)
    try:
        return cls(**(params or {}))
    except TypeError as e:
        raise ConfigError(f"bad parameters for detector {name!r}: {e}") from e


@lru_cache(maxsize=8)
def _metadata(kind: str, plugins: tuple[tuple[str, str], ...]) -> dict[str, DetectorMeta]:
    refs = {**BUILTIN_SIGNALS, **dict(plugins)} if kind == "signals" else \
        dict(BUILTIN_BASELINES) if kind == "baselines" else {**BUILTIN_SIGNALS, **dict(plugins), **BUILTIN_BASELINES}
    out: dict[str, DetectorMeta] = {}
    for name, ref in refs.items():
        try:
            out[name] = _load(ref).meta()
        except (ImportError, AttributeError, ConfigError):  # a broken plugin must not hide the others
            continue
    return out


def metadata(kind: str = "all") -> dict[str, DetectorMeta]:
    """Name -> the detector's own metadata (group, weight, live form, version, columns)."""
    return _metadata(kind, tuple(sorted(_plugins().items())))


def live_detectors(params: dict[str, dict[str, object]] | None = None) -> dict[str, Detector]:
    """Instances of every registered signal that has a per-account stream form."""
    return {n: create(n, (params or {}).get(n)) for n, m in metadata("signals").items() if m.live}


def markdown_table() -> str:
    """The detector table of docs/detection.md, generated from each detector's metadata
    (tests/engine/test_docs_table.py fails when the docs drift from the code)."""
    rows = ["| detector | kind | group | default weight | live form | version | needs columns | what it measures |",
            "|---|---|---|---|---|---|---|---|"]
    for name, m in sorted(metadata("all").items(), key=lambda kv: (kv[1].kind != "signal", kv[0])):
        rows.append(f"| `{name}` | {m.kind} | {m.group} | {m.weight:g} | {('yes' + (f'; superseded by `{m.superseded_by}` in the scan' if m.superseded_by else '')) if m.live else 'batch only'} | "
                    f"{m.version} | {', '.join(m.required_columns)}"
                    + (f" (uses {', '.join(m.optional_columns)})" if m.optional_columns else "")
                    + ("; accounts table" if m.needs_accounts else "") + f" | {m.description} |")
    return "\n".join(rows) + "\n"


def write_docs_table(path: str = "docs/detection.md") -> None:
    """Regenerate the table in docs/detection.md: ``python -m distillguard.detectors.registry``."""
    from pathlib import Path

    begin, end = "<!-- detectors:begin (registry.markdown_table) -->\n", "<!-- detectors:end -->"
    p = Path(path)
    head, rest = p.read_text().split(begin, 1)
    p.write_text(head + begin + markdown_table() + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    write_docs_table()
