"""The detector contract: one class, one method, a table of scored accounts with evidence.

A detector reads canonical tables (never raw logs) through a :class:`ScanContext` and
returns a :class:`SIGNAL_SCHEMA` table: one row per account it has an opinion on, a score
in [0, 1] (higher = more like distillation), the raw measured value, a sentence an analyst
can check, and example request ids. ``__init__`` only stores keyword parameters: no I/O,
no model loading (scikit-learn's rule), so detectors can be cloned, listed and configured
from TOML. Combining scores into verdicts is not a detector's job (see decide/).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

import duckdb
import pyarrow as pa

SIGNAL_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("detail", pa.string()),
        pa.field("examples", pa.list_(pa.string())),
    ]
)


@dataclass
class ScanContext:
    """What a detector may look at.

    ``con`` has the views ``events`` and ``accounts`` in the canonical schema (accounts
    may be empty), already cut to the scan window. ``artefacts`` caches work shared by
    several detectors (e.g. per-request text features), keyed by name.
    """

    con: duckdb.DuckDBPyConnection
    until: datetime | None = None
    artefacts: dict[str, Any] = field(default_factory=dict)
    has_accounts: bool = False


@dataclass(frozen=True)
class DetectorMeta:
    """What the registry, decide/, the findings and the docs table know about a detector.

    It lives on the detector class (one place): ``group`` and ``weight`` drive the fixed
    combination in decide/scoring.py, ``live`` says the detector has a per-account stream
    form (:meth:`Detector.score_features` over :mod:`distillguard.features.stream`) that the
    guard runs event by event, ``features`` are the per-account aggregates it reads.
    """

    name: str
    version: str
    kind: Literal["signal", "baseline"]
    group: str
    weight: float
    live: bool
    superseded_by: str | None
    required_columns: tuple[str, ...]
    features: tuple[str, ...]
    description: str
    optional_columns: tuple[str, ...] = ()
    needs_accounts: bool = False


class Detector:
    """Base class: subclass, set the class attributes, implement :meth:`detect`.

    A *live* detector (``live = True``) instead implements :meth:`score_features`: one pure
    function from an account's aggregate features to its score, used by the batch scan
    (rows from DuckDB, :func:`distillguard.features.account.fetch`) and by the guard (rows
    from :class:`distillguard.features.stream.AccountAggregate`), so both paths share one
    definition of the signal.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id")
    optional_columns: ClassVar[tuple[str, ...]] = ()
    """Event or account columns the signal reads when present; absent or sparse ones weaken it (scan/blind_spots.py)."""
    needs_accounts: ClassVar[bool] = False
    """Whether the signal scores nothing without an accounts table."""
    description: ClassVar[str] = ""
    kind: ClassVar[Literal["signal", "baseline"]] = "signal"
    group: ClassVar[str] = ""
    """Evidence group (decide/scoring.py); empty means a group of its own."""
    default_weight: ClassVar[float] = 1.0
    live: ClassVar[bool] = False
    superseded_by: ClassVar[str | None] = None
    """A better measurement of the same fact: when that signal scored the account (the batch
    scan's world view), this one adds nothing (decide/scoring.py)."""
    features: ClassVar[tuple[str, ...]] = ()
    """Account-feature columns :meth:`score_features` reads (live detectors)."""

    @classmethod
    def meta(cls) -> DetectorMeta:
        return DetectorMeta(cls.name, str(cls.version), cls.kind, cls.group or cls.name, float(cls.default_weight),
                            bool(cls.live), cls.superseded_by, tuple(cls.required_columns), tuple(cls.features),
                            cls.description, tuple(cls.optional_columns), bool(cls.needs_accounts))

    def detect(self, ctx: ScanContext) -> pa.Table:
        """Batch form. Live detectors get it for free: their stream function over DuckDB's rows."""
        if not self.live:  # pragma: no cover - abstract
            raise NotImplementedError
        from distillguard.features.account import fetch

        cols = ", ".join(dict.fromkeys(("account_id", *self.features)))
        return signal_table([self.score_features(r) for r in fetch(ctx, cols)])

    def score_features(self, row: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        """Live detectors: one account's aggregate features → {account_id, score, value, detail, examples}.

        ``explain=False`` may leave ``detail`` empty: the guard scores every request and asks
        for the sentences only when it acts or an analyst looks."""
        raise NotImplementedError(f"{self.name} has no per-account stream form")

    # --- scikit-learn style parameter handling -------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> "Detector":
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise ValueError(f"{self.name}: unknown parameters {sorted(unknown)}")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def empty_signal() -> pa.Table:
    return SIGNAL_SCHEMA.empty_table()


def signal_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Build a SIGNAL_SCHEMA table from dicts, clipping scores into [0, 1]."""
    cols: dict[str, list[Any]] = {f.name: [] for f in SIGNAL_SCHEMA}
    for r in rows:
        for k in cols:
            v = r.get(k)
            if k == "score":
                v = min(1.0, max(0.0, float(v or 0.0)))
            cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=SIGNAL_SCHEMA)
