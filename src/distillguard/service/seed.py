"""Seed the guard from the latest batch scan and from pulled intel indicators.

The nightly scan sees the whole history and the campaign graph, which no per-request
view can; the service starts from its conclusions (account scores, campaign membership)
and keeps scoring new traffic on top. Intel matches (``distillguard intel match`` writes
``matches.parquet``) are split by how much the consortium agrees: an indicator
corroborated by several member organisations may act (throttle, by policy); a
single-member signal only raises the score a little and opens a review, because one
member's mistake must not lock a customer out everywhere. Revoked, disputed and
false-positive indicators are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from distillguard.errors import InputError
from distillguard.findings import read_findings


@dataclass(frozen=True)
class SeedAccount:
    score: float = 0.0
    verdict: str = "clear"
    campaign_id: str | None = None
    campaign_score: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class IntelHit:
    corroboration: float
    single: bool
    evidence: str


@dataclass
class Seed:
    """Lookup tables built once at start-up (and on admin reload)."""

    accounts: dict[str, SeedAccount] = field(default_factory=dict)
    campaigns: dict[str, float] = field(default_factory=dict)
    intel: dict[str, IntelHit] = field(default_factory=dict)
    source: str = ""


def load_findings_seed(path: str | Path) -> tuple[dict[str, SeedAccount], dict[str, float]]:
    """Account scores and campaign membership from a findings folder."""
    f = read_findings(path)
    camp_score = {c.id: float(c.score) for c in f.campaigns}
    for c in f.campaigns:
        camp_score.setdefault(c.id, float(c.score))
    members = {a: c.id for c in f.campaigns for a in c.account_ids}
    cols = f.accounts.select(["account_id", "score", "verdict", "campaign_id"]).to_pydict()
    out: dict[str, SeedAccount] = {}
    for aid, score, verdict, cid in zip(cols["account_id"], cols["score"], cols["verdict"], cols["campaign_id"]):
        cid = cid or members.get(aid)
        if score < 0.3 and not cid:
            continue  # clear accounts need no seed entry
        reason = f"batch scan: score {score:.2f} ({verdict})" + (f", campaign {cid}" if cid else "")
        out[aid] = SeedAccount(float(score), verdict, cid, camp_score.get(cid or "", 0.0), reason)
    for aid, cid in members.items():
        if aid not in out:
            out[aid] = SeedAccount(0.0, "clear", cid, camp_score.get(cid, 0.0), f"batch scan: campaign {cid}")
    return out, camp_score


def load_intel_seed(path: str | Path) -> dict[str, IntelHit]:
    """Per account, the strongest usable intel match."""
    p = Path(path)
    if not p.exists():
        raise InputError("intel matches file not found", source=str(p))
    t = pq.read_table(p).to_pydict()
    need = {"account_id", "corroboration", "category"}
    if not need <= t.keys():
        raise InputError(f"intel matches lack columns {sorted(need - t.keys())}", source=str(p))
    n = len(t["account_id"])
    revoked = t.get("revoked") or [False] * n
    disputed = t.get("disputed") or [False] * n
    evidence = t.get("evidence") or [""] * n
    out: dict[str, IntelHit] = {}
    for i in range(n):
        if revoked[i] or disputed[i] or t["category"][i] == "false-positive":
            continue
        corr = float(t["corroboration"][i] or 0.0)
        prev = out.get(t["account_id"][i])
        if prev is None or corr > prev.corroboration:
            out[t["account_id"][i]] = IntelHit(corr, corr < 2.0, evidence[i] or "")
    return out


def load_seed(findings_dir: str | None, intel_matches: str | None) -> Seed:
    seed = Seed()
    srcs = []
    if findings_dir:
        seed.accounts, seed.campaigns = load_findings_seed(findings_dir)
        srcs.append(f"findings {findings_dir}: {len(seed.accounts):,} accounts, {len(seed.campaigns):,} campaigns")
    if intel_matches:
        seed.intel = load_intel_seed(intel_matches)
        srcs.append(f"intel {intel_matches}: {len(seed.intel):,} accounts")
    seed.source = "; ".join(srcs)
    return seed
