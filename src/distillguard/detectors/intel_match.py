"""Signal "campaign known at another provider": consortium intel matched to local accounts.

Reads the matches file written by ``distillguard intel match``
(``settings.detectors.intel_match.params.matches``) and applies the member's trust policy
(distillguard.intel.trust): a single member's indicator raises the score to watch level
and asks for review; only indicators corroborated by independent members score high
enough to flag; shared infrastructure alone stays low; revoked, disputed, expired and
allow-listed indicators score nothing. Without a matches path the detector has no
opinion (returns no rows), so it is off unless intel has been pulled and matched.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from distillguard.detectors.base import Detector, ScanContext, empty_signal, signal_table


class IntelMatch(Detector):
    name: ClassVar[str] = "intel_match"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("account_id",)
    description: ClassVar[str] = "Account matches an indicator another consortium member shared (with trust policy)."
    group = "intel"
    default_weight = 1.0

    def __init__(self, *, matches: str | None = None, trust: dict[str, Any] | None = None) -> None:
        self.matches = matches
        self.trust = trust

    def detect(self, ctx: ScanContext) -> pa.Table:
        if not self.matches:
            return empty_signal()
        from distillguard.intel.match import read_matches
        from distillguard.intel.trust import TrustPolicy, decide

        decisions = decide(read_matches(self.matches), TrustPolicy.from_dict(self.trust))
        local = {r[0] for r in ctx.con.execute("SELECT DISTINCT account_id FROM events").fetchall()}
        evidence: dict[str, list[str]] = {}
        for m in read_matches(self.matches).to_pylist():
            evidence.setdefault(m["account_id"], []).append(m["evidence"])
        rows = []
        for d in decisions.to_pylist():
            if d["account_id"] not in local or d["action"] == "none":
                continue
            first = evidence.get(d["account_id"], [""])[0]
            rows.append({
                "account_id": d["account_id"], "score": d["score"], "value": d["corroboration"],
                "detail": f"{d['action']}: {d['reason']}. {first} Indicators: {', '.join(d['indicators'][:3])}",
                "examples": [],
            })
        return signal_table(rows) if rows else empty_signal()
