"""What a confirmed campaign leaves behind that another provider could recognise.

Reads the provider's canonical ``events`` and ``accounts`` (a DuckDB connection with those
views) and returns, per campaign, the shareable artefacts: keyed digests of emails,
payment fingerprints, IPs, /24 subnets and client strings, and keyed sketches of prompt
template skeletons. Nothing raw is returned: values are hashed here, at the edge.

An artefact that any account *outside* the campaign also holds is dropped: sharing it
would point other members at our own innocent customers (a shared NAT, a common SDK
string, a family card). That is the first line of defence against false positives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from distillguard.errors import InputError
from distillguard.intel.hashing import Keyring, normalise, tokenise
from distillguard.intel.sketch import Sketch, sketch, skeleton

if TYPE_CHECKING:
    from distillguard.intel.oprf import OprfClient

MAX_PER_KIND = 200        # most widespread first; a proxy pool can have thousands of IPs
MAX_TEMPLATES = 5
PROMPTS_PER_ACCOUNT = 60


@dataclass(frozen=True)
class Artefact:
    """One shareable value: kind, keyed value, how many campaign accounts showed it, when."""

    kind: str
    value: str
    accounts: int
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass
class ArtefactReport:
    """What was extracted and what was held back (and why), for the export summary."""

    artefacts: list[Artefact] = field(default_factory=list)
    dropped_shared_with_others: dict[str, int] = field(default_factory=dict)
    capped: dict[str, int] = field(default_factory=dict)


def connect(events: str | Path, accounts: str | Path | None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``events`` and ``accounts`` views over Parquet files/folders."""
    con = duckdb.connect()

    def src(p: str | Path) -> str:
        path = Path(p)
        if path.is_dir():
            return str(path / "**" / "*.parquet")
        if not path.exists() and not any(ch in str(p) for ch in "*?["):
            raise InputError("not found", source=str(p))
        return str(p)

    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{src(events)}', union_by_name=true)")
    if accounts is not None:
        con.execute(f"CREATE VIEW accounts AS SELECT * FROM read_parquet('{src(accounts)}', union_by_name=true)")
    else:
        con.execute("CREATE VIEW accounts AS SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS email, "
                    "NULL::VARCHAR AS payment_fingerprint, NULL::VARCHAR AS signup_ip WHERE false")
    return con


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def raw_values(con: duckdb.DuckDBPyConnection, account_ids: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(account_id, kind, raw value) for every account (or only ``account_ids``).

    Used for hashing at the edge (export and match) and by the collective-defence bench to
    grep what was sent for raw values.
    """
    ev, ac = _columns(con, "events"), _columns(con, "accounts")
    con.execute("CREATE OR REPLACE TEMP TABLE _sel(account_id VARCHAR)")
    if account_ids is not None:
        con.executemany("INSERT INTO _sel VALUES (?)", [(a,) for a in account_ids])
    where_e = "WHERE account_id IN (SELECT account_id FROM _sel)" if account_ids is not None else ""
    parts = []
    if "ip" in ev:
        parts.append(f"SELECT DISTINCT account_id, 'ip' AS kind, ip AS v FROM events {where_e}")
    if "user_agent" in ev:
        parts.append(f"SELECT DISTINCT account_id, 'client', user_agent FROM events {where_e}")
    for col, kind in (("email", "email"), ("payment_fingerprint", "payment"), ("signup_ip", "ip")):
        if col in ac:
            parts.append(f"SELECT DISTINCT account_id, '{kind}', {col} FROM accounts {where_e}")
    if not parts:
        return []
    rows = con.execute(" UNION ".join(parts)).fetchall()
    return [(a, k, v) for a, k, v in rows if v is not None and a is not None]


def hashed_artefacts(keyring: Keyring, rows: list[tuple[str, str, str]],
                     oprf: "OprfClient | None" = None) -> dict[tuple[str, str], set[str]]:
    """(kind, keyed value) -> accounts holding it; IPs also yield their subnet.

    Low-entropy kinds get OPRF tokens from the key holder (``oprf``); without one they are
    left out (see :func:`distillguard.intel.hashing.tokenise`).
    """
    by_kind: dict[str, set[str]] = {}
    for _, kind, raw in rows:
        for k in ([kind, "subnet"] if kind == "ip" else [kind]):
            by_kind.setdefault(k, set()).add(raw)
    forms = {k: tokenise(keyring, k, sorted(vals), oprf) for k, vals in by_kind.items()}
    out: dict[tuple[str, str], set[str]] = {}
    for acc, kind, raw in rows:
        for k in ([kind, "subnet"] if kind == "ip" else [kind]):
            for d in forms[k].get(raw, []):
                out.setdefault((k, d), set()).add(acc)
    return out


def account_prompts(con: duckdb.DuckDBPyConnection, account_ids: list[str] | None = None,
                    per_account: int = PROMPTS_PER_ACCOUNT) -> dict[str, list[str]]:
    """Up to ``per_account`` prompts per account (system prompt prefixed), spread over time."""
    cols = _columns(con, "events")
    text = "coalesce(system_prompt || ' ', '') || prompt" if "system_prompt" in cols else "prompt"
    con.execute("CREATE OR REPLACE TEMP TABLE _selp(account_id VARCHAR)")
    where = ""
    if account_ids is not None:
        con.executemany("INSERT INTO _selp VALUES (?)", [(a,) for a in account_ids])
        where = "WHERE account_id IN (SELECT account_id FROM _selp)"
    rows = con.execute(
        f"""SELECT account_id, t FROM (
              SELECT account_id, {text} AS t,
                     row_number() OVER (PARTITION BY account_id ORDER BY hash(request_id)) AS rn
              FROM events {where}) WHERE rn <= {int(per_account)}"""
    ).fetchall()
    out: dict[str, list[str]] = {}
    for acc, t in rows:
        if t:
            out.setdefault(acc, []).append(t)
    return out


def _seen(con: duckdb.DuckDBPyConnection, accounts: set[str]) -> tuple[datetime | None, datetime | None]:
    con.execute("CREATE OR REPLACE TEMP TABLE _seen(account_id VARCHAR)")
    con.executemany("INSERT INTO _seen VALUES (?)", [(a,) for a in accounts])
    lo, hi = con.execute("SELECT min(ts), max(ts) FROM events WHERE account_id IN (SELECT account_id FROM _seen)").fetchone() or (None, None)
    return lo, hi


def campaign_artefacts(con: duckdb.DuckDBPyConnection, keyring: Keyring, account_ids: list[str],
                       all_hashed: dict[tuple[str, str], set[str]] | None = None,
                       oprf: "OprfClient | None" = None) -> ArtefactReport:
    """Shareable artefacts of one campaign, minus anything accounts outside it also hold."""
    members = set(account_ids)
    hashed = all_hashed if all_hashed is not None else hashed_artefacts(keyring, raw_values(con), oprf)
    report = ArtefactReport()
    by_kind: dict[str, list[tuple[str, set[str]]]] = {}
    for (kind, value), holders in hashed.items():
        inside = holders & members
        if not inside:
            continue
        if holders - members:
            report.dropped_shared_with_others[kind] = report.dropped_shared_with_others.get(kind, 0) + 1
            continue
        by_kind.setdefault(kind, []).append((value, inside))
    for kind, items in sorted(by_kind.items()):
        items.sort(key=lambda x: (-len(x[1]), x[0]))
        if len(items) > MAX_PER_KIND:
            report.capped[kind] = len(items) - MAX_PER_KIND
        for value, inside in items[:MAX_PER_KIND]:
            lo, hi = _seen(con, inside)
            report.artefacts.append(Artefact(kind, value, len(inside), lo, hi))
    report.artefacts.extend(template_artefacts(con, keyring, account_ids))
    return report


def template_artefacts(con: duckdb.DuckDBPyConnection, keyring: Keyring, account_ids: list[str]) -> list[Artefact]:
    """Distinct template skeleton sketches of a campaign's accounts (at most MAX_TEMPLATES)."""
    prompts = account_prompts(con, account_ids)
    key = keyring.current_key
    found: list[tuple[Sketch, set[str]]] = []
    for acc, ps in sorted(prompts.items()):
        sk = skeleton(ps)
        if sk is None:
            continue
        s = sketch(key, sk)
        for other, accs in found:
            if other.similarity(s) >= 0.8:
                accs.add(acc)
                break
        else:
            found.append((s, {acc}))
    found.sort(key=lambda x: -len(x[1]))
    out = []
    for s, accs in found[:MAX_TEMPLATES]:
        lo, hi = _seen(con, accs)
        out.append(Artefact("template", s.to_str(), len(accs), lo, hi))
    return out


def normalised_raw(kind: str, raw: Any) -> str | None:
    """Convenience for the bench's leak check: the normalised raw form of a value."""
    return normalise(kind, None if raw is None else str(raw))
