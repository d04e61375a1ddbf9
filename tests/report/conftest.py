"""A small hand-made world for report tests: findings, a DuckDB events/accounts view, labels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest

from distillguard.findings import Campaign, Findings, Reason, account_table
from distillguard.schema import ACCOUNTS_SCHEMA, EVENTS_SCHEMA, LABELS_SCHEMA

XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)


def make_events() -> pa.Table:
    rows = []
    members = ["acct-bad-1", "acct-bad-2", "acct-bad-3"]
    for j, a in enumerate(members):
        for i in range(120):
            rows.append({"request_id": f"{a}-r{i}", "ts": T0 + timedelta(minutes=7 * i + j),
                         "account_id": a, "ip": f"203.0.113.{10 + j}", "user_agent": "python-httpx/0.28",
                         "prompt": f"Solve step by step and show all reasoning: what is {i} * {j + 7}?",
                         "conversation_id": None})
    rows[5]["prompt"] = XSS  # attacker-controlled prompt
    for i in range(30):
        rows.append({"request_id": f"acct-ok-r{i}", "ts": T0 + timedelta(hours=9, minutes=13 * i),
                     "account_id": "acct-ok", "ip": "198.51.100.7", "user_agent": "Mozilla/5.0",
                     "prompt": f"Can you help me rewrite paragraph {i} of my cover letter?", "conversation_id": "c1"})
    for i in range(40):
        rows.append({"request_id": f"acct-watch-r{i}", "ts": T0 + timedelta(hours=2, minutes=20 * i),
                     "account_id": "acct-watch", "ip": "192.0.2.55", "user_agent": "openai-python/1.0",
                     "prompt": f"Summarise support ticket #{1000 + i} in three bullet points.",
                     "conversation_id": None})
    cols = {f.name: [r.get(f.name) for r in rows] for f in EVENTS_SCHEMA}
    return pa.Table.from_pydict(cols, schema=EVENTS_SCHEMA)


def make_accounts() -> pa.Table:
    rows = [
        {"account_id": a, "email": f"user{i}@mailinator.example", "payment_fingerprint": "fp-SHARED",
         "signup_ip": f"203.0.113.{20 + i}", "country": "US", "verified": False, "tier": "free"}
        for i, a in enumerate(["acct-bad-1", "acct-bad-2", "acct-bad-3"])
    ] + [
        {"account_id": "acct-ok", "email": "jane@uni.example", "payment_fingerprint": "fp-jane", "tier": "build"},
        {"account_id": "acct-watch", "email": "ops@corp.example", "payment_fingerprint": "fp-corp", "tier": "scale"},
    ]
    cols = {f.name: [r.get(f.name) for r in rows] for f in ACCOUNTS_SCHEMA}
    return pa.Table.from_pydict(cols, schema=ACCOUNTS_SCHEMA)


def make_findings() -> Findings:
    reasons_bad = [
        Reason("reasoning", 0.93, 1.0, "91% of 120 prompts demand step-by-step reasoning"),
        Reason("templating", 0.88, 1.0, "100% of 120 prompts match 1 template </td><b>bold?</b>"),
        Reason("metadata", 0.7, 0.5, "payment card shared with 2 other accounts"),
    ]
    rows = [
        {"account_id": f"acct-bad-{k}", "score": 0.97 - 0.01 * k, "verdict": "flag", "campaign_id": "camp-1",
         "first_flag_ts": T0 + timedelta(hours=2), "reasons": reasons_bad} for k in (1, 2, 3)
    ] + [
        {"account_id": "acct-watch", "score": 0.61, "verdict": "watch", "campaign_id": None,
         "reasons": [Reason("templating", 0.6, 1.0, "95% of 40 prompts match 1 template")]},
        {"account_id": "acct-ok", "score": 0.05, "verdict": "clear", "reasons": []},
    ]
    camp = Campaign(
        id="camp-1", account_ids=["acct-bad-1", "acct-bad-2", "acct-bad-3"], score=0.95,
        first_seen=T0.isoformat(), last_seen=(T0 + timedelta(hours=14)).isoformat(), request_count=360,
        signals={"reasoning": 0.93, "templating": 0.88, "metadata": 0.7},
        shared_infrastructure={"payment_fingerprint": ["fp-SHARED"], "ip_subnet": ["203.0.113.0/24"]},
        example_request_ids=["acct-bad-1-r1"], atlas_techniques=["AML.T0040", "AML.T0024.002", "AML.T0065", "AML.T0021"],
        summary="3 new free accounts on one card run one reasoning template <b>in lockstep</b>",
    )
    meta = {"detector": "distillguard", "since": None, "until": "2026-03-03T00:00:00Z",
            "ingest": {"events": {"kind": "events", "read": 502, "used": 500, "quarantined": 2}},
            "scoring": {"watch": 0.5, "flag": 0.8}}
    return Findings(account_table(rows), [camp], meta)


def make_labels() -> pa.Table:
    rows = [{"account_id": f"acct-bad-{k}", "provider": "p1", "label": "distillation", "persona": "reasoning_harvest",
             "campaign_id": "truth-c1", "actor_id": "actor-9"} for k in (1, 2, 3)]
    rows += [{"account_id": "acct-ok", "provider": "p1", "label": "benign", "persona": "student"},
             {"account_id": "acct-watch", "provider": "p1", "label": "benign", "persona": "enterprise_pipeline"}]
    return pa.Table.from_pydict({f.name: [r.get(f.name) for r in rows] for f in LABELS_SCHEMA}, schema=LABELS_SCHEMA)


@pytest.fixture()
def findings() -> Findings:
    return make_findings()


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("SET TimeZone='UTC'")
    ev, acc = make_events(), make_accounts()
    c.register("_ev", ev)
    c.register("_acc", acc)
    c.execute("CREATE VIEW events AS SELECT * FROM _ev")
    c.execute("CREATE VIEW accounts AS SELECT * FROM _acc")
    return c


@pytest.fixture()
def labels() -> pa.Table:
    return make_labels()
