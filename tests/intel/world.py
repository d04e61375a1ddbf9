"""A tiny two-provider world for intel tests: one attacker at A and B, innocent customers.

Built by hand (not the simulator) so each test knows exactly which artefacts are shared:
the attacker reuses one card and one proxy subnet at both providers, spells its gmail
address differently (dots, +tags), and uses paraphrases of the same prompt template.
An innocent customer at B shares a NAT address with the attacker's proxy pool.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.intel.hashing import Keyring, keyring_toml, parse_keyring, tokenise
from distillguard.intel.oprf import KeyHolder, LocalTransport, OprfClient, OprfKey
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, conform

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
TASKS = ["what is 17 times 23", "prove that the square root of 2 is irrational", "sort a list of integers in python",
         "explain why the sky is blue", "derive the quadratic formula", "find the derivative of x cubed",
         "summarise the causes of the first world war", "write a function that reverses a string"]
TEMPLATE_A = "Solve the following problem step by step and show your full reasoning before the final answer. Problem: {}"
TEMPLATE_B = "Work through this problem step by step, explaining your full reasoning, then give the final answer. Problem: {}"
BENIGN = ["hey can you help me plan a birthday party for my son", "translate bonjour to english",
          "write a haiku about autumn leaves", "fix this sql query: select * form users",
          "recipe ideas with chickpeas and spinach", "what should I name my cat",
          "draft a polite email declining a meeting", "how many ounces in a cup"]
CARD = "fp_card_attacker_777"
SECRET_K1 = "11" * 32
SECRET_K2 = "22" * 32


# the consortium's OPRF key holder, in process (the hub plays it in test_taxii_hub.py)
OPRF_HOLDER = KeyHolder([OprfKey("oprf-test1", b"\x33" * 32, "2026-01-01T00:00:00.000000Z")])


def oprf() -> OprfClient:
    """A member's OPRF client talking to the in-process key holder (real RFC 9497 protocol)."""
    return OprfClient(LocalTransport(OPRF_HOLDER))


def token(kind: str, raw: str, client: OprfClient | None = None) -> str:
    """The OPRF token a member would share for a raw low-entropy value."""
    return tokenise(keyring(), kind, [raw], client or oprf())[raw][0]


def keyring(current: str = "k1", with_previous: bool = False) -> Keyring:
    secrets = {"k1": SECRET_K1} if current == "k1" else {"k2": SECRET_K2}
    if with_previous and current == "k2":
        secrets["k1"] = SECRET_K1
    return parse_keyring(keyring_toml(current, secrets))


def _events(rows: list[dict]) -> pa.Table:
    return conform(pa.Table.from_pylist(rows), EVENT_COLUMNS)


def provider(name: str, folder: Path, template: str, attacker_email: str, attacker_ip_base: str,
             innocent_shares_ip: str | None = None, start: datetime = T0) -> dict[str, Path]:
    """Write events/accounts for one provider: 3 attacker accounts, 4 innocent ones."""
    ev, acc = [], []
    n = 0
    for i in range(3):
        aid = f"{name}-atk-{i}"
        email = attacker_email if i == 0 else f"worker{i}.{name}@mailbox.example"
        acc.append({"account_id": aid, "created_at": start, "email": email, "payment_fingerprint": CARD,
                    "country": "ZZ", "signup_ip": f"{attacker_ip_base}.{10 + i}", "verified": False, "tier": "build"})
        for j, task in enumerate(TASKS):
            n += 1
            ev.append({"request_id": f"{name}-r{n}", "ts": start + timedelta(minutes=n), "account_id": aid,
                       "ip": f"{attacker_ip_base}.{10 + i}", "user_agent": "python-httpx/0.27.0",
                       "prompt": template.format(task), "response": "...", "model": "m"})
    for i in range(4):
        aid = f"{name}-user-{i}"
        acc.append({"account_id": aid, "created_at": start - timedelta(days=300), "email": f"person{i}@{name}.example",
                    "payment_fingerprint": f"fp_{name}_user_{i}", "country": "FR", "signup_ip": f"198.51.{i}.7",
                    "verified": True, "tier": "scale"})
        ip = innocent_shares_ip if (innocent_shares_ip and i == 0) else f"198.51.{i}.7"
        for j, p in enumerate(BENIGN):
            n += 1
            ev.append({"request_id": f"{name}-r{n}", "ts": start + timedelta(minutes=n), "account_id": aid,
                       "ip": ip, "user_agent": "Mozilla/5.0 app", "prompt": p, "response": "...", "model": "m"})
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(_events(ev), folder / "events.parquet")
    pq.write_table(conform(pa.Table.from_pylist(acc), ACCOUNT_COLUMNS), folder / "accounts.parquet")
    return {"events": folder / "events.parquet", "accounts": folder / "accounts.parquet"}


def findings_for(name: str, folder: Path, signals: dict[str, float] | None = None) -> Path:
    """A findings folder where the 3 attacker accounts form confirmed campaign 'c1'."""
    rows = [{"account_id": f"{name}-atk-{i}", "score": 0.93, "verdict": "flag", "campaign_id": "c1"} for i in range(3)]
    rows += [{"account_id": f"{name}-user-{i}", "score": 0.05, "verdict": "clear"} for i in range(4)]
    camp = Campaign(id="c1", account_ids=[f"{name}-atk-{i}" for i in range(3)], score=0.93,
                    first_seen=T0.isoformat(), last_seen=(T0 + timedelta(hours=2)).isoformat(), request_count=24,
                    signals=signals or {"templating": 0.9, "volume": 0.7}, atlas_techniques=[])
    camp2 = Campaign(id="c2", account_ids=[f"{name}-user-0"], score=0.5, first_seen=None, last_seen=None,
                     request_count=8)
    return write_findings(Findings(account_table(rows), [camp, camp2], {"tool": "distillguard", "version": "0.test"}),
                          folder / "findings")
