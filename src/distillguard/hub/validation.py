"""STIX validation of posted objects, in worker processes when a POST is large.

The OASIS validator is pure Python and CPU-bound (well under 1 ms per object with the
caches of ``distillguard.intel.fastvalidate``), so one hub process validates on one core.
``Validation`` can spread a large envelope over ``hub.validation_workers`` processes
(``forkserver``, so workers never inherit the server's threads or sockets); small posts,
and the default ``validation_workers = 1``, stay in process. On the 2-core development
machine in-process is faster (≈1,100 vs ≈300-500 objects/s: the server, the client and the
workers share two cores, and shipping objects costs more than it saves), so use more only
on a many-core hub, after measuring with ``bench/bench_hub.py --validation-workers N``. Verdicts are the same either way (each
object is validated on its own; tests/hub/test_probes.py compares them).
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

from stix2validator import ValidationOptions, validate_instance

from distillguard.intel import fastvalidate

_OPTIONS = ValidationOptions(version="2.1")
MIN_PARALLEL = 64  # below this, starting to ship objects to workers costs more than it saves


def stix_errors(obj: Any) -> list[str]:
    """OASIS validator errors for one object ([] when valid); never raises."""
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    if not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str):
        return ["a STIX object needs string 'type' and 'id' properties"]
    fastvalidate.install()  # schema registry built once, not per object (same verdicts)
    try:
        result = validate_instance(obj, _OPTIONS)
    except Exception as e:  # noqa: BLE001 - the validator can choke on hostile input
        return [f"could not be validated: {type(e).__name__}: {str(e)[:200]}"]
    return [str(err) for err in result.errors]


def _chunk(objs: Sequence[Any]) -> list[list[str]]:
    return [stix_errors(o) for o in objs]


def _warm() -> None:
    """Build the worker's schema registry and validators before its first real chunk."""
    fastvalidate.install()
    stix_errors({"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000000",
                 "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                 "pattern": "[x-llm-api-client:ip_hmac = 'k:0']", "pattern_type": "stix",
                 "valid_from": "2026-01-01T00:00:00.000Z"})


class Validation:
    """Validates envelopes, in a lazily started process pool when they are large."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_warm,
                                                 mp_context=multiprocessing.get_context("forkserver"))
            return self._pool

    def errors(self, objects: Sequence[Any]) -> list[list[str]]:
        if self.workers <= 1 or len(objects) < MIN_PARALLEL:
            return _chunk(objects)
        size = -(-len(objects) // (self.workers * 2))
        parts = [list(objects[i:i + size]) for i in range(0, len(objects), size)]
        try:
            out: list[list[str]] = []
            for res in self._executor().map(_chunk, parts):
                out.extend(res)
            return out
        except Exception:  # noqa: BLE001 - a broken pool must not refuse good objects: validate here
            self.close()
            return _chunk(objects)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
