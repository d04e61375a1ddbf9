"""Blind spots: which signals ran blind or weakened on this input, and why.

Each detector declares what it reads beyond the four required columns
(``Detector.optional_columns``: event or account columns) and whether it needs the
accounts table at all (``Detector.needs_accounts``). After loading, the scan measures how
often each of those columns holds a value and turns the gaps into sentences such as
"no accounts table: metadata and identity links off". They are printed by ``scan``,
shown in report.html and kept in the findings meta (``blind_spots``).

A signal is **blind** when it needs accounts and there are none (it scores nothing); it
is **weakened** when a column it reads is absent, or filled in under half of the events for
columns every request should carry (ip, user_agent, api_key_id, model, token counts).
Columns that real traffic leaves empty on many rows (system prompts, conversation ids,
responses, reasoning tokens, every account column) count only when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from distillguard.detectors.base import Detector
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS

SPARSE = 0.5
"""A column filled in fewer than this share of rows counts as a gap."""

CAMPAIGN_EVENT_COLUMNS = ("ip", "user_agent", "api_key_id")
"""Campaign links over shared infrastructure (docs/campaigns.md)."""
CAMPAIGN_ACCOUNT_COLUMNS = ("payment_fingerprint", "email", "signup_ip")
"""Campaign identity links (shared cards, email patterns, signup addresses)."""

NATURALLY_SPARSE = ("system_prompt", "conversation_id", "response", "reasoning_tokens")
"""Columns many requests leave empty in real traffic: only their absence is a gap."""

_EVENT = {c.name for c in EVENT_COLUMNS if not c.required}
_ACCOUNT = {c.name for c in ACCOUNT_COLUMNS if not c.required}


@dataclass
class Coverage:
    """Share of rows holding a value, per optional column; accounts may be absent."""

    events: int
    event_fill: dict[str, float]
    accounts: int
    account_fill: dict[str, float]

    def fill(self, column: str) -> float | None:
        if column in _EVENT:
            return self.event_fill.get(column, 0.0)
        if column in _ACCOUNT:
            return self.account_fill.get(column, 0.0) if self.accounts else 0.0
        return None


def measure(con: duckdb.DuckDBPyConnection, events_table: str = "events_base", has_accounts: bool = False) -> Coverage:
    """Count non-null values of every optional contract column (one pass per table)."""
    ev_cols = [c.name for c in EVENT_COLUMNS if not c.required]
    row = con.execute(f"SELECT count(*), {', '.join(f'count({c})' for c in ev_cols)} FROM {events_table}").fetchone()
    n = int(row[0]) if row else 0
    ev = {c: (int(v) / n if n else 0.0) for c, v in zip(ev_cols, (row or [])[1:])}
    acc_cols = [c.name for c in ACCOUNT_COLUMNS if not c.required]
    m, acc = 0, {}
    if has_accounts:
        row = con.execute(f"SELECT count(*), {', '.join(f'count({c})' for c in acc_cols)} FROM accounts").fetchone()
        m = int(row[0]) if row else 0
        acc = {c: (int(v) / m if m else 0.0) for c, v in zip(acc_cols, (row or [])[1:])}
    return Coverage(n, ev, m, acc)


def _gap(column: str, share: float, cov: Coverage) -> str:
    table = "accounts" if column in _ACCOUNT else "events"
    if share == 0.0:
        return f"no {column}" if table == "events" else f"no {column} in accounts"
    return f"{column} in {share:.0%} of {table}"


def _names(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def _is_gap(column: str, share: float | None) -> bool:
    if share is None:
        return False
    sparse_ok = column in NATURALLY_SPARSE or column in _ACCOUNT  # cards, emails, tiers: not every account has one
    return share == 0.0 if sparse_ok else share < SPARSE


def assess(detectors: dict[str, Detector], cov: Coverage, campaigns: bool = True) -> dict[str, Any]:
    """Per-signal status and the sentences to show, grouped by cause."""
    signals: list[dict[str, Any]] = []
    off: dict[str, list[str]] = {}
    weak: dict[str, list[str]] = {}
    no_accounts = cov.accounts == 0
    acc_cause = "no accounts table"
    for name, det in sorted(detectors.items()):
        needs_acc = bool(getattr(det, "needs_accounts", False))
        optional = tuple(getattr(det, "optional_columns", ()))
        if needs_acc and no_accounts:
            signals.append({"signal": name, "status": "blind", "missing": ["accounts"], "why": acc_cause})
            off.setdefault(acc_cause, []).append(name)
            continue
        causes: list[str] = []
        missing: list[str] = []
        for col in optional:
            if col in _ACCOUNT and no_accounts:
                if acc_cause not in causes:
                    causes.append(acc_cause)
                missing.append(col)
                continue
            share = cov.fill(col)
            if _is_gap(col, share):
                causes.append(_gap(col, share or 0.0, cov))
                missing.append(col)
        if causes:
            signals.append({"signal": name, "status": "weakened", "missing": missing, "why": "; ".join(causes)})
            for c in causes:
                weak.setdefault(c, []).append(name)
    if campaigns:
        if no_accounts:
            off.setdefault(acc_cause, []).append("identity links")
        else:
            for col in CAMPAIGN_ACCOUNT_COLUMNS:
                s = cov.fill(col) or 0.0
                if _is_gap(col, s):
                    weak.setdefault(_gap(col, s, cov), []).append("identity links")
        for col in CAMPAIGN_EVENT_COLUMNS:
            s = cov.fill(col) or 0.0
            if _is_gap(col, s):
                weak.setdefault(_gap(col, s, cov), []).append("infrastructure links")
    notices = []
    for cause in list(dict.fromkeys([*off, *weak])):
        parts = []
        if off.get(cause):
            parts.append(f"{_names(list(dict.fromkeys(off[cause])))} off")
        if weak.get(cause):
            parts.append(f"{_names(list(dict.fromkeys(weak[cause])))} weakened")
        notices.append(f"{cause}: {', '.join(parts)}")
    return {"signals": signals, "notices": notices,
            "coverage": {"events": cov.events, "accounts": cov.accounts,
                         "event_columns": {k: round(v, 4) for k, v in cov.event_fill.items()},
                         "account_columns": {k: round(v, 4) for k, v in cov.account_fill.items()}}}


__all__ = ["Coverage", "assess", "measure"]
