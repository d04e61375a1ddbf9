"""Optional supervised scoring: gradient boosting on the signal scores of labelled findings.

``distillguard train`` fits a scikit-learn HistGradientBoostingClassifier on one row per
account — every signal's score (missing → 0) — from findings folders whose
``signals.parquet`` was written by ``scan``, against a labels file. ``scan --model``
then replaces the weighted sum with the model's probability (campaign inheritance and
the thresholds still apply). The model file is a pickle of a small dict: load only
models you trained yourself.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.errors import InputError

SIGNALS_FILE = "signals.parquet"


def feature_matrix(signals: pa.Table, features: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(account_ids, feature names, matrix) from a long signals table (account_id, signal, score)."""
    names = features or sorted(set(signals.column("signal").to_pylist()))
    idx = {n: i for i, n in enumerate(names)}
    rows: dict[str, np.ndarray] = {}
    for acc, sig, score in zip(signals.column("account_id").to_pylist(), signals.column("signal").to_pylist(),
                               signals.column("score").to_pylist()):
        if sig in idx:
            rows.setdefault(acc, np.zeros(len(names)))[idx[sig]] = score
    ids = sorted(rows)
    mat = np.vstack([rows[a] for a in ids]) if ids else np.zeros((0, len(names)))
    return ids, names, mat


def train(findings_dirs: list[Path], labels: pa.Table, out: Path, seed: int = 0) -> dict[str, Any]:
    """Fit and save a model; returns a small summary (rows, positives, features)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    lab = {a: (l == "distillation") for a, l in zip(labels.column("account_id").to_pylist(),
                                                     labels.column("label").to_pylist())}
    tables = []
    for d in findings_dirs:
        f = Path(d) / SIGNALS_FILE
        if not f.exists():
            raise InputError(f"no {SIGNALS_FILE}: run `distillguard scan` on it first", source=str(d))
        tables.append(pq.read_table(f, columns=["account_id", "signal", "score"]))
    signals = pa.concat_tables(tables)
    ids, names, x = feature_matrix(signals)
    keep = [i for i, a in enumerate(ids) if a in lab]
    if not keep:
        raise InputError("no labelled account appears in the findings (check account ids)")
    y = np.array([lab[ids[i]] for i in keep], dtype=int)
    if len(set(y.tolist())) < 2:
        raise InputError("labels hold only one class among the scanned accounts: nothing to learn")
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
                                         l2_regularization=1.0, random_state=seed,
                                         min_samples_leaf=max(2, min(20, len(keep) // 10)))
    clf.fit(x[keep], y)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        pickle.dump({"kind": "distillguard-hgb", "version": 1, "features": names, "model": clf}, fh)
    return {"rows": len(keep), "positives": int(y.sum()), "features": names}


def load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            doc = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise InputError(f"cannot read model: {e}", source=str(path)) from e
    if not isinstance(doc, dict) or doc.get("kind") != "distillguard-hgb":
        raise InputError("not a distillguard model file", source=str(path))
    return doc


def predict(model: dict[str, Any], signals: pa.Table) -> dict[str, float]:
    """account_id → probability of distillation under the trained model."""
    ids, _, x = feature_matrix(signals, model["features"])
    if not ids:
        return {}
    proba = model["model"].predict_proba(x)[:, 1]
    return {a: float(p) for a, p in zip(ids, proba)}
