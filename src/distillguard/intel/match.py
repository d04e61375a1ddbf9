"""Match pulled indicators against this provider's own accounts and events.

Local values are normalised and hashed under every valid consortium key (so indicators
made before a key rotation still match) and compared with the indicators' keyed values;
template sketches are compared by estimated Jaccard similarity of skeletons. The result
is ``matches.parquet`` (schema :data:`MATCHES_SCHEMA`), read by ``scan`` (the
``intel_match`` signal) and the real-time service. Every row keeps the indicator's state
(revoked, disputed, category, expiry) so a retraction shows up on the rows it affects.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.errors import InputError
from distillguard.intel.artefacts import account_prompts, raw_values
from distillguard.intel.hashing import Keyring, tokenise
from distillguard.intel.sketch import Sketch, sketch, skeleton
from distillguard.intel.store import IndicatorView
from distillguard.schema import TS

if TYPE_CHECKING:
    from distillguard.intel.oprf import OprfClient

MATCHES_SCHEMA = pa.schema([
    pa.field("account_id", pa.string(), nullable=False),
    pa.field("indicator_id", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("confidence", pa.int32()),
    pa.field("corroboration", pa.float64()),
    pa.field("category", pa.string()),
    pa.field("revoked", pa.bool_()),
    pa.field("disputed", pa.bool_()),
    pa.field("source_org", pa.string()),
    pa.field("valid_until", TS),
    pa.field("evidence", pa.string()),
])
MATCHES_FILE = "matches.parquet"
SKETCH_THRESHOLD = 0.2


def _row(acc: str, ind: IndicatorView, evidence: str) -> dict[str, object]:
    state = []
    if ind.revoked:
        state.append("since retracted by its author")
    if ind.disputed:
        state.append("disputed as a false positive by a member")
    tail = f" ({'; '.join(state)})" if state else ""
    orgs = ", ".join(ind.orgs) if ind.orgs else ind.source_org
    return {
        "account_id": acc, "indicator_id": ind.id, "kind": ind.kind, "confidence": ind.confidence,
        "corroboration": ind.corroboration, "category": ind.category, "revoked": ind.revoked,
        "disputed": ind.disputed, "source_org": ind.source_org, "valid_until": ind.valid_until,
        "evidence": f"{evidence} a {ind.kind} indicator ({ind.category}, confidence {ind.confidence}) "
                    f"shared by {ind.source_org}; reported independently by {len(ind.orgs)} member(s): {orgs}{tail}.",
    }


def match(indicators: list[IndicatorView], con: duckdb.DuckDBPyConnection, keyring: Keyring,
          *, sketch_threshold: float = SKETCH_THRESHOLD, when: datetime | None = None,
          oprf: "OprfClient | None" = None) -> pa.Table:
    """One row per (local account, indicator) that matches.

    Low-entropy kinds are matched through OPRF tokens (``oprf``: the key holder evaluates
    this member's own values, blinded); without a client only HMAC-keyed indicators of
    those kinds (shared before OPRF) can match.
    """
    rows: list[dict[str, object]] = []
    exact = [i for i in indicators if i.kind != "template"]
    if exact:
        wanted: dict[str, list[IndicatorView]] = {}
        for ind in exact:
            wanted.setdefault(ind.value, []).append(ind)
        seen: set[tuple[str, str]] = set()
        local = raw_values(con)
        by_kind: dict[str, set[str]] = {}
        for _, kind, raw in local:
            for k in ([kind, "subnet"] if kind == "ip" else [kind]):
                by_kind.setdefault(k, set()).add(raw)
        forms = {k: tokenise(keyring, k, sorted(v), oprf, every_key=True, when=when) for k, v in by_kind.items()}
        for acc, kind, raw in local:
            for k in ([kind, "subnet"] if kind == "ip" else [kind]):
                for d in forms[k].get(raw, []):
                    for ind in wanted.get(d, []):
                        if ind.kind == k and (acc, ind.id) not in seen:
                            seen.add((acc, ind.id))
                            rows.append(_row(acc, ind, f"Account's {k} matches"))
    templates = [i for i in indicators if i.kind == "template"]
    if templates:
        keys = {k.id: k for k in keyring.valid_keys(when)}
        usable = [(i, Sketch.from_str(i.value)) for i in templates if i.value.split(":", 1)[0] in keys]
        if usable:
            for acc, prompts in account_prompts(con).items():
                sk = skeleton(prompts)
                if sk is None:
                    continue
                mine = {kid: sketch(k, sk) for kid, k in keys.items()}
                for ind, theirs in usable:
                    sim = mine[theirs.key_id].similarity(theirs)
                    if sim >= sketch_threshold:
                        rows.append(_row(acc, ind, f"Account's prompt template is {sim:.0%} similar to"))
    return pa.Table.from_pylist(rows, schema=MATCHES_SCHEMA)


def write_matches(table: pa.Table, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix != ".parquet":
        p = p / MATCHES_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, p)
    return p


def read_matches(path: str | Path) -> pa.Table:
    p = Path(path)
    if p.is_dir():
        p = p / MATCHES_FILE
    if not p.exists():
        raise InputError("matches file not found (run `distillguard intel match` first)", source=str(p))
    t = pq.read_table(p)
    missing = [f.name for f in MATCHES_SCHEMA if f.name not in t.column_names]
    if missing:
        raise InputError(f"matches file lacks columns {missing}", source=str(p))
    return t.select([f.name for f in MATCHES_SCHEMA]).cast(MATCHES_SCHEMA)
