"""Replay a traffic log into a running guard, in time order, and summarise what it decided.

Used by ``distillguard replay`` and by bench/bench_service.py. The log is normalised once
by :func:`distillguard.ingest.ingest` (any contract format), read back in ``ts`` order in
Arrow batches, and POSTed in batches of ``batch`` events. With ``speed > 0`` the sender
sleeps so that event time advances ``speed`` times faster than wall time; ``speed = 0``
sends as fast as the service answers.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import httpx
import orjson

from distillguard.config import IngestConfig
from distillguard.errors import InputError
from distillguard.ingest import ingest

SEND_FIELDS = ("request_id", "ts", "account_id", "api_key_id", "ip", "user_agent", "model", "conversation_id",
               "system_prompt", "prompt", "prompt_tokens", "completion_tokens", "reasoning_tokens")


@dataclass
class ReplaySummary:
    """Counts by action, and per account the first event at which it was acted on."""

    events: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)
    first_action: dict[str, tuple[int, str, float]] = field(default_factory=dict)
    events_per_account: Counter[str] = field(default_factory=Counter)
    verdicts: dict[str, str] = field(default_factory=dict)
    """Each account's live verdict (clear / watch / flag) after its last event."""
    blocked: set[str] = field(default_factory=set)

    def record(self, ev: dict[str, Any], d: dict[str, Any]) -> None:
        aid = d["account_id"]
        self.events_per_account[aid] += 1
        self.actions[d["action"]] += 1
        if d.get("verdict"):
            self.verdicts[aid] = d["verdict"]
        if d["action"] != "allow" and aid not in self.first_action:
            self.first_action[aid] = (self.events_per_account[aid], d["action"], ev["ts"])
        if d["action"] == "block":
            self.blocked.add(aid)

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "requests": self.requests, "errors": self.errors,
                "seconds": round(self.seconds, 3), "events_per_s": round(self.events / self.seconds, 1) if self.seconds else None,
                "actions": dict(self.actions), "accounts_acted_on": len(self.first_action)}


def iter_events(spec: str | Path | list[str | Path], batch: int, work: Path, config: IngestConfig | None = None,
                tier_of: dict[str, str] | None = None, mapping: Any = None) -> Iterator[list[dict[str, Any]]]:
    """Yield lists of JSON-ready events (ts as epoch seconds) in time order.

    ``mapping`` (a profile name, TOML file or Mapping) reads a provider's own format.
    """
    report = ingest(spec, "events", work, config, mapping=mapping)
    if report.used == 0:
        raise InputError("no usable events to replay", source=str(spec))
    con = duckdb.connect()
    cols = ", ".join(f'"{c}"' for c in SEND_FIELDS if c != "ts")
    reader = con.sql(f"SELECT {cols}, epoch_us(ts) / 1e6 AS ts FROM read_parquet('{report.output}/*.parquet') "
                     "ORDER BY ts, request_id").to_arrow_reader(batch)
    for rb in reader:
        rows = rb.to_pylist()
        for r in rows:
            for k in [k for k, v in r.items() if v is None]:
                del r[k]
            if tier_of and r["account_id"] in tier_of:
                r["tier"] = tier_of[r["account_id"]]
        yield rows
    con.close()


def load_accounts(spec: str | Path | None, work: Path, config: IngestConfig | None = None) -> dict[str, dict[str, Any]]:
    """account_id → JSON-ready accounts-feed record (created_at as epoch seconds)."""
    if spec is None:
        return {}
    report = ingest(spec, "accounts", work, config)
    con = duckdb.connect()
    try:
        rows = con.sql(f"SELECT * EXCLUDE (created_at), epoch_us(created_at) / 1e6 AS created_at "
                       f"FROM read_parquet('{report.output}/*.parquet')").to_arrow_table().to_pylist()
    finally:
        con.close()
    return {r["account_id"]: {k: v for k, v in r.items() if v is not None and k in _ACCOUNT_SEND} for r in rows}


_ACCOUNT_SEND = ("account_id", "created_at", "email", "payment_fingerprint", "country", "signup_ip", "verified", "tier")


def replay(spec: str | Path | list[str | Path], url: str, *, speed: float = 0.0, batch: int = 100,
           config: IngestConfig | None = None, on_events: Callable[[int], None] | None = None,
           tier_of: dict[str, str] | None = None, timeout_s: float = 30.0, accounts: str | Path | None = None,
           mapping: Any = None, admin_token: str | None = None) -> ReplaySummary:
    """Stream ``spec`` into the guard at ``url``; returns a :class:`ReplaySummary`.

    With ``accounts`` (an accounts table), each account's record is sent to ``POST
    /v1/accounts`` just before its first event, as a sign-up feed would deliver it; that
    endpoint is privileged, so ``admin_token`` (or ``$DISTILLGUARD_ADMIN_TOKEN``) goes with it.
    ``mapping`` (a profile name, TOML file or Mapping) reads events in a provider's own format."""
    import os

    from distillguard.service.auth import ENV

    token = admin_token or os.environ.get(ENV)
    feed_headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    summ = ReplaySummary()
    t_start = time.perf_counter()
    ev_t0: float | None = None
    with tempfile.TemporaryDirectory(prefix="dg-replay-") as tmp, \
            httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s) as client:
        profiles = load_accounts(accounts, Path(tmp) / "accounts", config)
        for rows in iter_events(spec, batch, Path(tmp), config, tier_of, mapping):
            for i in range(0, len(rows), batch):
                chunk = rows[i:i + batch]
                new = [profiles.pop(a) for a in dict.fromkeys(e["account_id"] for e in chunk) if a in profiles]
                if new:
                    r = client.post("/v1/accounts", content=orjson.dumps({"accounts": new}), headers=feed_headers)
                    if r.status_code != 200:
                        raise InputError(f"the guard refused the accounts feed: {r.status_code} {r.text[:200]}")
                if speed > 0:
                    if ev_t0 is None:
                        ev_t0 = chunk[0]["ts"]
                    due = t_start + (chunk[0]["ts"] - ev_t0) / speed
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                resp = client.post("/v1/events", content=orjson.dumps({"events": chunk}),
                                   headers={"content-type": "application/json"})
                summ.requests += 1
                if resp.status_code != 200:
                    summ.errors += len(chunk)
                    continue
                for ev, d in zip(chunk, resp.json()["decisions"]):
                    summ.record(ev, d)
                summ.events += len(chunk)
                if on_events:
                    on_events(len(chunk))
    summ.seconds = time.perf_counter() - t_start
    return summ


def replay_local(spec: str | Path, settings: Any = None, *, accounts: str | Path | None = None, batch: int = 100,
                 on_events: Callable[[int], None] | None = None) -> ReplaySummary:
    """A cold guard in this process (no seed, nothing kept): the same ``Guard.process`` that
    ``POST /v1/events`` runs, fed ``spec`` in time order, with the accounts feed first.
    For the demo and bench/bench_live.py, where an HTTP hop would only measure the client."""
    import asyncio

    from distillguard.config import Settings
    from distillguard.service.guard import Guard

    settings = (settings or Settings()).model_copy(deep=True)
    settings.service.state_path = ":memory:"
    settings.service.findings_dir = settings.service.intel_matches = None

    async def run() -> ReplaySummary:
        guard = Guard(settings.service, None, settings)
        await guard.start()
        summ = ReplaySummary()
        t0 = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="dg-replay-") as tmp:
                profiles = load_accounts(accounts, Path(tmp) / "accounts", settings.ingest)
                for rows in iter_events(spec, 10_000, Path(tmp), settings.ingest):
                    for i in range(0, len(rows), batch):
                        chunk = rows[i:i + batch]
                        new = [profiles.pop(a) for a in dict.fromkeys(e["account_id"] for e in chunk) if a in profiles]
                        if new:
                            guard.learn_accounts([_account_record(r) for r in new])
                        out = await guard.process([(ev, ev["ts"]) for ev in chunk])
                        for ev, d in zip(chunk, out):
                            summ.record(ev, d)
                        summ.events += len(chunk)
                        summ.requests += 1
                        if on_events:
                            on_events(len(chunk))
        finally:
            await guard.stop()
        summ.seconds = time.perf_counter() - t0
        return summ

    return asyncio.run(run())


def _account_record(r: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime, timezone

    out = dict(r)
    if isinstance(out.get("created_at"), (int, float)):
        out["created_at"] = datetime.fromtimestamp(out["created_at"], tz=timezone.utc)
    return out
