"""Which detectors exist, by name: built-ins listed here, plugins through entry points.

Built-ins are named as ``"module:Class"`` strings so importing the registry stays cheap
and a broken optional detector cannot stop the others from loading. Plugins register
under the ``distillguard.detectors`` entry-point group; names must be unique.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from distillguard.detectors.base import Detector
from distillguard.errors import ConfigError

# name -> "module:Class". Signals are combined by decide/; baselines run alone (--detector).
BUILTIN_SIGNALS: dict[str, str] = {
    "volume": "distillguard.detectors.volume:VolumeDetector",
    "automation": "distillguard.detectors.automation:AutomationDetector",
    "templating": "distillguard.detectors.templating:Templating",
    "known_corpus": "distillguard.detectors.known_corpus:KnownCorpus",
    "reasoning": "distillguard.detectors.reasoning:ReasoningDetector",
    "coverage": "distillguard.detectors.coverage:CoverageDetector",
    "metadata": "distillguard.detectors.metadata:MetadataDetector",
    "window_test": "distillguard.detectors.window_test:WindowTest",
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
    found: dict[str, str] = {}
    for ep in entry_points(group="distillguard.detectors"):
        if ep.name in found or ep.name in BUILTIN_SIGNALS or ep.name in BUILTIN_BASELINES:
            raise ConfigError(f"detector name {ep.name!r} is registered twice (plugin {ep.value})")
        found[ep.name] = ep.value
    return found


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
