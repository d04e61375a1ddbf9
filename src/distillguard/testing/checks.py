"""``check_detector``: the conformance suite every detector must pass, built-in or plugin.

A plugin author runs it in their own tests (``check_detector(MyDetector())``) the way
scikit-learn authors run ``check_estimator``. It checks the contract of
detectors/base.py, not detection quality: that is what bench/ measures.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from pathlib import Path

import pyarrow as pa

from distillguard.detectors.base import SIGNAL_SCHEMA, Detector
from distillguard.schema import EVENT_COLUMNS, conform


def _run(det: Detector, events: pa.Table) -> pa.Table:
    from distillguard.scan import context

    with tempfile.TemporaryDirectory(prefix="dg-check-") as tmp:
        ctx = context(events, work_dir=Path(tmp))
        try:
            return det.detect(ctx)
        finally:
            ctx.con.close()


def check_detector(det: Detector, events: pa.Table | None = None) -> None:
    """Raise AssertionError naming the broken rule; return None when the detector conforms.

    Rules: class attributes declared; ``__init__`` takes keyword-only parameters it
    stores unchanged (get_params/set_params round-trip); output has SIGNAL_SCHEMA's
    columns and types; scores in [0, 1]; one row per account at most, only accounts that
    exist; deterministic on the same input; an empty events table gives an empty result;
    every row with a score ≥ 0.5 carries a detail sentence.
    """
    from distillguard.testing.hand_world import build_world

    cls = type(det)
    assert cls.name, f"{cls.__name__}: set the class attribute `name`"
    assert cls.version, f"{cls.__name__}: set the class attribute `version`"
    assert set(cls.required_columns) <= {c.name for c in EVENT_COLUMNS}, \
        f"{cls.name}: required_columns {cls.required_columns} are not all contract columns"
    sig = inspect.signature(cls.__init__)
    for p in list(sig.parameters.values())[1:]:
        assert p.kind is p.KEYWORD_ONLY and p.default is not p.empty, \
            f"{cls.name}: __init__ parameter {p.name!r} must be keyword-only with a default"
    params = det.get_params()
    clone = cls(**params)
    assert clone.get_params() == params, f"{cls.name}: parameters do not round-trip through __init__"

    if events is None:
        events, _ = build_world(0, n_chat=12, n_attack=2)
    out = _run(det, events)
    assert out.schema.names == SIGNAL_SCHEMA.names, f"{cls.name}: columns {out.schema.names} != {SIGNAL_SCHEMA.names}"
    assert out.cast(SIGNAL_SCHEMA).schema.equals(SIGNAL_SCHEMA), f"{cls.name}: column types differ from SIGNAL_SCHEMA"
    ids = out.column("account_id").to_pylist()
    assert len(ids) == len(set(ids)), f"{cls.name}: more than one row for an account"
    assert set(ids) <= set(events.column("account_id").to_pylist()), f"{cls.name}: scores accounts that do not exist"
    for row in out.to_pylist():
        s = row["score"]
        assert s is not None and not math.isnan(s) and 0.0 <= s <= 1.0, f"{cls.name}: score {s} outside [0, 1]"
        if s >= 0.5:
            assert row["detail"], f"{cls.name}: account {row['account_id']} scores {s:.2f} without a detail sentence"
    again = _run(clone, events)
    first = dict(zip(out.column("account_id").to_pylist(), out.column("score").to_pylist()))
    second = dict(zip(again.column("account_id").to_pylist(), again.column("score").to_pylist()))
    # Parallel SQL aggregates may add floats in another order: equal up to rounding.
    assert first.keys() == second.keys() and all(abs(first[k] - second[k]) <= 1e-9 for k in first), \
        f"{cls.name}: not deterministic on the same input"

    empty = conform(events.slice(0, 0), EVENT_COLUMNS)
    assert _run(cls(**params), empty).num_rows == 0, f"{cls.name}: an empty events table must give no rows"
