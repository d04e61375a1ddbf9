"""Detection quality of a findings folder against ground-truth labels.

Pure functions over Arrow tables. The headline damage metric is *exchanges harvested
before detection*: how many requests a campaign's accounts made before each was first
flagged (never-flagged accounts count all their requests), because a detector that flags
everything a month late has perfect recall and no value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import average_precision_score, roc_auc_score

from distillguard.errors import InputError
from distillguard.findings import Findings


@dataclass(frozen=True)
class Joined:
    """Labels joined with findings: one row per labelled account."""

    table: pa.Table  # account_id, provider, label, persona, campaign_id, score, verdict, first_flag_ts
    missing_in_findings: int
    providers: list[str]


def _safe(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def join(findings: Findings, labels: pa.Table, provider: str | None = None) -> Joined:
    """Attach each labelled account's score and verdict (absent accounts: score 0, clear).

    Without ``provider``, and when findings carry no provider column, labels are cut to
    the providers whose accounts appear in the findings (one scan = one provider).
    """
    con = duckdb.connect()
    con.register("f", findings.accounts)
    con.register("l", labels)
    fcols = findings.accounts.column_names
    if provider is not None:
        providers = [provider]
    elif "provider" in fcols:
        providers = sorted({p for p in findings.accounts.column("provider").to_pylist() if p})
    else:
        rows = con.sql("SELECT l.provider, count(*) FROM l JOIN f USING (account_id) GROUP BY 1 ORDER BY 2 DESC").fetchall()
        providers = [r[0] for r in rows]
    if not providers:
        raise InputError("no labelled account appears in the findings: wrong --labels or --provider?")
    plist = ", ".join("'" + p.replace("'", "''") + "'" for p in providers)
    on = "l.account_id = f.account_id" + (" AND l.provider = f.provider" if "provider" in fcols else "")
    t = con.sql(f"""
        SELECT l.account_id, l.provider, l.label, l.persona, l.campaign_id,
               coalesce(f.score, 0.0) AS score, coalesce(f.verdict, 'clear') AS verdict,
               f.first_flag_ts, f.account_id IS NULL AS missing
        FROM l LEFT JOIN f ON {on}
        WHERE l.provider IN ({plist})
        ORDER BY l.provider, l.account_id
    """).to_arrow_table()
    missing = int(np.sum(t.column("missing").to_numpy(zero_copy_only=False)))
    return Joined(t.drop_columns(["missing"]), missing, providers)


def _rates(y: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if precision is not None and recall is not None else None)
    fpr = fp / (fp + tn) if fp + tn else None
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1, "benign_fpr": fpr}


def score_metrics(j: Joined) -> dict[str, Any]:
    t = j.table
    y = np.array([v == "distillation" for v in t.column("label").to_pylist()], dtype=bool)
    s = t.column("score").to_numpy(zero_copy_only=False).astype(float)
    verdict = np.array(t.column("verdict").to_pylist())
    out: dict[str, Any] = {"accounts": int(len(y)), "distillation_accounts": int(y.sum()),
                           "benign_accounts": int((~y).sum()), "missing_in_findings": j.missing_in_findings,
                           "providers": j.providers}
    both = 0 < y.sum() < len(y)
    out["roc_auc"] = _safe(roc_auc_score(y, s)) if both else None
    out["pr_auc"] = _safe(average_precision_score(y, s)) if both else None
    out["at_flag"] = _rates(y, verdict == "flag")
    out["at_watch_or_flag"] = _rates(y, verdict != "clear")
    personas = np.array(t.column("persona").to_pylist())
    per_campaign_type: dict[str, Any] = {}
    per_persona: dict[str, Any] = {}
    for p in sorted(set(personas.tolist())):
        m = personas == p
        if y[m].all():
            flagged = int(np.sum(verdict[m] == "flag"))
            per_campaign_type[p] = {"accounts": int(m.sum()), "flagged": flagged, "recall": flagged / int(m.sum())}
        elif (~y[m]).all():
            flagged = int(np.sum(verdict[m] == "flag"))
            watched = int(np.sum(verdict[m] == "watch"))
            per_persona[p] = {"accounts": int(m.sum()), "flagged": flagged, "watched": watched, "fpr": flagged / int(m.sum())}
    out["recall_per_campaign_type"] = per_campaign_type
    out["fpr_per_benign_persona"] = per_persona
    out["worst_persona_fpr"] = max((v["fpr"] for v in per_persona.values()), default=None)
    return out


def harvest_metrics(j: Joined, con: duckdb.DuckDBPyConnection | None) -> dict[str, Any]:
    """Per labelled campaign: found?, account recall, and exchanges harvested before detection.

    ``con`` must expose an ``events`` view (account_id, ts); without it only the
    account-level campaign figures are computed.
    """
    t = j.table
    mal = t.filter(pc.equal(t.column("label"), "distillation"))
    campaigns: dict[str, dict[str, Any]] = {}
    ids = mal.column("campaign_id").to_pylist()
    verdicts = mal.column("verdict").to_pylist()
    personas = mal.column("persona").to_pylist()
    for cid, v, p in zip(ids, verdicts, personas):
        c = campaigns.setdefault(cid or "(none)", {"type": p, "accounts": 0, "flagged": 0})
        c["accounts"] += 1
        c["flagged"] += v == "flag"
    if con is not None and mal.num_rows:
        con.register("_dg_eval_m", mal.select(["account_id", "campaign_id", "first_flag_ts", "verdict"]))
        rows = con.sql("""
            SELECT coalesce(m.campaign_id, '(none)') AS cid, count(*) AS total,
                   count(*) FILTER (WHERE m.verdict <> 'flag' OR m.first_flag_ts IS NULL OR e.ts < m.first_flag_ts) AS before,
                   min(e.ts) AS start
            FROM events e JOIN _dg_eval_m m USING (account_id) GROUP BY 1
        """).fetchall()
        con.unregister("_dg_eval_m")
        for cid, total, before, start in rows:
            c = campaigns.setdefault(cid, {"type": None, "accounts": 0, "flagged": 0})
            c.update({"requests": int(total), "harvested_before_flag": int(before),
                      "harvested_share": before / total if total else None,
                      "start": start.isoformat() if start else None})
    for c in campaigns.values():
        c["found"] = c["flagged"] > 0
        c["account_recall"] = c["flagged"] / c["accounts"] if c["accounts"] else None
    found = [c["found"] for c in campaigns.values()]
    shares = [c["harvested_share"] for c in campaigns.values() if c.get("harvested_share") is not None]
    total_req = sum(c.get("requests", 0) for c in campaigns.values())
    total_before = sum(c.get("harvested_before_flag", 0) for c in campaigns.values())
    return {
        "campaigns": campaigns,
        "campaign_recall": (sum(found) / len(found)) if found else None,
        "harvested_before_flag": total_before if con is not None else None,
        "harvested_share_overall": (total_before / total_req) if total_req else None,
        "harvested_share_worst_campaign": max(shares) if shares else None,
    }


def evaluate(findings: Findings, labels: pa.Table, con: duckdb.DuckDBPyConnection | None = None,
             provider: str | None = None) -> dict[str, Any]:
    """All metrics of one findings folder: the dict ``distillguard evaluate`` prints and writes."""
    j = join(findings, labels, provider)
    result = score_metrics(j)
    result.update(harvest_metrics(j, con))
    result["detector"] = findings.meta.get("detector")
    return result
