"""A hand-made world for campaign tests: a hydra network among hard benign personas.

* hydra      — 200 accounts, 3 payment cards, one proxy /24, ``name1234@proton.me`` emails
               created in one burst, 3 prompt templates with swept slots, synchronised start;
               each account individually weak (score 0.3).
* classroom  — 30 students behind one university NAT, same class hour, diverse prompts (0.1).
* agency     — 10 seats paid with one card, diverse prompts (0.1).
* enterprise — one account running a templated pipeline (0.5): a template, not a campaign.
* public     — 300 ordinary users (gmail, popular SDK, own IPs, own cards) (0.05).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa

from distillguard.detectors.base import ScanContext
from distillguard.schema import ACCOUNTS_SCHEMA, EVENTS_SCHEMA

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
VOCAB = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue "
         "side kind head house service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office door health person "
         "art war history party result change morning reason research girl guy moment air teacher force education").split()
TEMPLATES = (
    "Solve the following problem step by step, then give the final answer: a shop sells {a} {w} for {b} dollars each. "
    "How much do {c} {w} cost in total?",
    "Explain in full detail, showing your reasoning, why {w} and {v} are related in the context of {u}.",
    "Write a complete Python function called {w}_{v} that computes the {a}th element of a sequence; explain each step.",
)
ENTERPRISE = "Classify the following customer support ticket into billing, technical or account: \"{t}\". Reply with one word."


def _sentence(rng: random.Random, lo: int = 7, hi: int = 18) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(lo, hi))).capitalize() + "?"


def build(seed: int = 0) -> tuple[ScanContext, pa.Table, dict[str, list[str]]]:
    """(ScanContext over DuckDB views, account_scores, persona → account ids)."""
    rng = random.Random(seed)
    ev: dict[str, list[object]] = {f.name: [] for f in EVENTS_SCHEMA}
    ac: dict[str, list[object]] = {f.name: [] for f in ACCOUNTS_SCHEMA}
    scores: dict[str, float] = {}
    personas: dict[str, list[str]] = {}

    def account(acc: str, persona: str, score: float, created: datetime, email: str, card: str, ip: str,
                verified: bool, tier: str = "free") -> None:
        personas.setdefault(persona, []).append(acc)
        scores[acc] = score
        for k, v in (("account_id", acc), ("created_at", created), ("email", email), ("payment_fingerprint", card),
                     ("country", "US"), ("signup_ip", ip), ("verified", verified), ("tier", tier)):
            ac[k].append(v)

    def event(acc: str, ts: datetime, ip: str, ua: str, prompt: str) -> None:
        n = len(ev["request_id"])
        row = {"request_id": f"req-{n:06d}", "ts": ts, "account_id": acc, "ip": ip, "user_agent": ua, "prompt": prompt}
        for f in EVENTS_SCHEMA:
            ev[f.name].append(row.get(f.name))

    # hydra
    cards = [f"card-h{i}" for i in range(3)]
    for i in range(200):
        acc = f"hydra-{i:03d}"
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
        ip = f"203.0.113.{rng.randint(1, 254)}"
        account(acc, "hydra", 0.3, T0 - timedelta(days=1, minutes=rng.randint(0, 8)), f"{name}{rng.randint(1000, 9999)}@proton.me",
                cards[i % 3], ip, False)
        start = T0 + timedelta(minutes=rng.randint(0, 8))
        for k in range(20):
            p = rng.choice(TEMPLATES).format(a=rng.randint(2, 999), b=rng.randint(2, 99), c=rng.randint(2, 99),
                                             w=rng.choice(VOCAB), v=rng.choice(VOCAB), u=rng.choice(VOCAB))
            event(acc, start + timedelta(minutes=3 * k), ip, "python-requests/2.31", p)
    # classroom: one NAT, one class hour, diverse questions
    for i in range(30):
        acc = f"student-{i:02d}"
        account(acc, "classroom", 0.1, T0 - timedelta(days=rng.randint(1, 90)), f"student{i}@uni.example.edu",
                f"card-s{i}", "192.0.2.10", False)
        for k in range(rng.randint(5, 12)):
            event(acc, T0 + timedelta(minutes=rng.randint(0, 55)), "192.0.2.10", "Mozilla/5.0 Chrome/131", _sentence(rng))
    # agency: ten seats on one card
    for i in range(10):
        acc = f"agency-{i}"
        ip = f"198.51.100.{i + 1}"
        account(acc, "agency", 0.1, T0 - timedelta(days=200), f"seat{i}@agency.example", "card-agency", ip, True, "build")
        for k in range(rng.randint(8, 20)):
            event(acc, T0 + timedelta(hours=rng.randint(0, 72), minutes=rng.randint(0, 59)), ip,
                  "Mozilla/5.0 Safari/17", _sentence(rng))
    # enterprise pipeline
    account("enterprise", "enterprise", 0.5, T0 - timedelta(days=400), "ops@bigco.example", "card-ent", "100.64.0.1",
            True, "enterprise")
    for k in range(300):
        event("enterprise", T0 + timedelta(minutes=7 * k), "100.64.0.1", "openai-python/1.40",
              ENTERPRISE.format(t=_sentence(rng, 5, 12)))
    # the public
    for i in range(300):
        acc = f"user-{i:03d}"
        ip = f"10.{i // 200}.{i % 200}.{rng.randint(1, 254)}"
        account(acc, "public", 0.05, T0 - timedelta(days=rng.randint(10, 700)),
                f"{''.join(rng.choice('abcdefghij') for _ in range(5))}{rng.randint(10, 99)}@gmail.com",
                f"card-u{i}", ip, rng.random() < 0.5)
        for k in range(rng.randint(3, 15)):
            event(acc, T0 + timedelta(hours=rng.randint(0, 96), minutes=rng.randint(0, 59)), ip,
                  "openai-python/1.40", _sentence(rng))
    con = duckdb.connect()
    con.register("_ev", pa.table(ev, schema=EVENTS_SCHEMA))
    con.register("_ac", pa.table(ac, schema=ACCOUNTS_SCHEMA))
    con.execute("create view events as select * from _ev")
    con.execute("create view accounts as select * from _ac")
    sc = pa.table({"account_id": list(scores), "score": list(scores.values())})
    return ScanContext(con=con, has_accounts=True), sc, personas
