"""Make the OASIS stix2-validator fast enough for the hub: build its schema registry once.

stix2-validator 3.2.0 does, for *every* object: walk its schema directory to find the
schema file, parse it from disk, build a fresh ``referencing.Registry`` and a fresh
jsonschema validator, then retrieve (read + parse + crawl) every ``$ref`` again. That is
~95 % of a POST's time at the hub (about 70 objects/s). Nothing about the rules changes
if the schema files are read once, so :func:`install` replaces four of the validator
module's helpers with cached equivalents:

* ``find_schema`` and ``load_schema``: memoised (``load_schema`` hands out deep copies,
  because the validator edits bundle / observed-data schemas in place);
* ``retrieve_from_filesystem``: memoised (resources are immutable);
* ``load_validator``: validators built over one pre-crawled registry holding every bundled
  schema, cached per schema text, so ``$ref`` lookups are dictionary hits;
* the STIX-pattern check (``v21.musts.patterns``, two ANTLR parses per indicator): its
  verdict is cached per pattern *shape*: plain string literals made only of
  ``[A-Za-z0-9:._-]`` are replaced by a placeholder first (such a literal's content can't
  change whether a pattern parses; prefixed literals like ``b'…'`` or ``t'…'`` are kept);
  a pattern whose shape fails is re-checked by the stock code, so error texts are unchanged;
* the MUST timestamp checks' ``dateutil`` parses: successful parses memoised;
* ``_get_error_generator``: the validator it builds depends only on the schema name, dir,
  version and default (and on whether the object is a bundle or observed-data), so it is
  reused instead of re-finding, re-copying and re-keying the schema per object.

Validation results are identical (tests/intel/test_fastvalidate.py compares them with the
stock code on valid and invalid objects). The patch is applied only to the pinned
version; any other version is left alone and simply runs at its own speed.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import pathlib
import threading
from typing import Any

import re

PATCHED_VERSION = "3.2.0"
_PLAIN_LITERAL = re.compile(r"(?<![A-Za-z0-9_])'[A-Za-z0-9:._\-]*'")
_PROBE_ID = "indicator--00000000-0000-4000-8000-000000000000"
_lock = threading.Lock()
_installed = False
ORIGINAL: dict[str, Any] = {}


def _version() -> str:
    from importlib.metadata import version

    return version("stix2-validator")


def install() -> bool:
    """Install the caches (idempotent); False if the installed validator is not the pinned one."""
    global _installed
    if _installed:
        return True
    with _lock:
        if _installed:
            return True
        if _version() != PATCHED_VERSION:
            return False
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012
        from stix2validator import validator as v

        ORIGINAL.update(find_schema=v.find_schema, load_schema=v.load_schema,
                        retrieve_from_filesystem=v.retrieve_from_filesystem, load_validator=v.load_validator)
        find = functools.lru_cache(maxsize=4096)(ORIGINAL["find_schema"])
        load_cached = functools.lru_cache(maxsize=1024)(ORIGINAL["load_schema"])
        retrieve_cached = functools.lru_cache(maxsize=4096)(ORIGINAL["retrieve_from_filesystem"])
        registries: dict[str, Any] = {}
        validators: dict[tuple[str, str, str], Any] = {}

        def load_schema(schema_path: str) -> Any:
            return copy.deepcopy(load_cached(schema_path))

        def registry_for(schema_dir: str) -> Any:
            """Every schema under ``schema_dir``, keyed as the stock retrieval would key it, crawled once."""
            reg = registries.get(schema_dir)
            if reg is None:
                resources = []
                for root, _dirs, files in os.walk(schema_dir, followlinks=True):
                    for name in files:
                        if name.endswith(".json"):
                            path = pathlib.Path(root, name).absolute()
                            with open(path) as f:
                                schema = v.patch_schema(json.load(f), str(path))
                            resources.append((path.as_uri(), DRAFT202012.create_resource(schema)))
                reg = Registry(retrieve=functools.partial(retrieve_cached, schema_dir=schema_dir)) \
                    .with_resources(resources).crawl()
                registries[schema_dir] = reg
            return reg

        built = threading.local()

        def load_validator(schema_path: str, schema: Any, schema_dir: str) -> Any:
            schema = v.patch_schema(schema, schema_path)
            key = (str(schema_path), str(schema_dir), json.dumps(schema, sort_keys=True))
            val = validators.get(key)
            if val is None:
                registry = registry_for(str(schema_dir)).with_resource(schema_path,
                                                                        DRAFT202012.create_resource(schema))
                val = v.STIXValidator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
                if len(validators) < 2048:
                    validators[key] = val
            built.last = val
            return val

        ORIGINAL["_get_error_generator"] = v._get_error_generator
        stock_generator = ORIGINAL["_get_error_generator"]
        per_name: dict[tuple[Any, ...], Any] = {}
        none = object()

        def get_error_generator(name: Any, obj: Any, schema_dir: Any = None, version: Any = v.DEFAULT_VER,
                                default: Any = "core") -> Any:
            # The schema chosen depends only on these, and on whether the object is a bundle or
            # observed-data (whose schemas the validator edits): remember the validator it built.
            otype = obj.get("type") if isinstance(obj, dict) else None
            key = (name, schema_dir, version, default, otype if otype in ("bundle", "observed-data") else None)
            val = per_name.get(key)
            if val is None:
                built.last = none
                gen = stock_generator(name, obj, schema_dir, version, default)
                if gen is None:
                    per_name[key] = none
                    return None
                if built.last is not none:
                    per_name[key] = built.last
                return gen
            return None if val is none else val.iter_errors(obj)

        from stix2validator.v21 import musts

        ORIGINAL["patterns"] = musts.patterns
        stock_patterns = ORIGINAL["patterns"]
        verdicts: dict[tuple[str, str, tuple[str, ...]], bool] = {}

        def patterns(instance: Any, options: Any) -> Any:
            pattern = instance.get("pattern") if isinstance(instance, dict) else None
            if not isinstance(pattern, str) or instance.get("type") != "indicator":
                yield from stock_patterns(instance, options)
                return
            shape = _PLAIN_LITERAL.sub("'v'", pattern)
            key = (shape, str(instance.get("pattern_version", instance.get("spec_version", "2.1"))),
                   tuple(sorted(getattr(options, "disabled", []) or [])))
            clean = verdicts.get(key)
            if clean is None:
                clean = not any(True for _ in stock_patterns(dict(instance, pattern=shape, id=_PROBE_ID), options))
                if len(verdicts) < 10_000:
                    verdicts[key] = clean
            if not clean:  # rare: let the stock check word the errors exactly as it always does
                yield from stock_patterns(instance, options)

        musts.patterns = patterns
        # the timestamp checks parse each timestamp with dateutil only to see that it parses;
        # a batch repeats the same few timestamps, so successful parses are memoised
        # (lru_cache never caches an exception, so bad timestamps are re-reported every time)
        import types

        ORIGINAL["parser"] = musts.parser
        musts.parser = types.SimpleNamespace(parse=functools.lru_cache(maxsize=65536)(ORIGINAL["parser"].parse))
        v._get_error_generator = get_error_generator
        v.find_schema = find
        v.load_schema = load_schema
        v.retrieve_from_filesystem = retrieve_cached
        v.load_validator = load_validator
        _installed = True
        return True


def uninstall() -> None:
    """Restore the stock helpers (tests compare both)."""
    global _installed
    with _lock:
        if not _installed:
            return
        from stix2validator import validator as v

        from stix2validator.v21 import musts

        for name, fn in ORIGINAL.items():
            setattr(musts if name in ("patterns", "parser") else v, name, fn)
        _installed = False
