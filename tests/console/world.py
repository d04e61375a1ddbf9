"""A small provider world for console tests, written by hand so each test knows every case.

* campaign ``c1``: 3 attacker accounts on one card, one proxy subnet and one scraper client,
  filling one prompt template (flagged);
* campaign ``c2``: 3 accounts of a (benign) classroom on one university network (watched);
* lone flagged account ``acme-solo`` and a watched ``acme-watch``, whose prompts carry XSS;
* 4 innocent customers (clear: no case).

Attacker-controlled text (prompts, client strings, a campaign summary, an account id)
holds HTML/script payloads, so every page can be checked for escaping.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, conform

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
TEMPLATE = "Solve the following problem step by step and show your full reasoning before the final answer. Problem: {}"
TASKS = ["what is 17 times 23", "prove that the square root of 2 is irrational", "sort a list of integers in python",
         "explain why the sky is blue", "derive the quadratic formula", "find the derivative of x cubed"]
ATTACKERS = [f"acme-atk-{i}" for i in range(3)]
CLASS = [f"acme-class-{i}" for i in range(3)]
SOLO = "acme-solo"
WATCH = "acme-watch"
XSS_ACCOUNT = 'acme-"><svg onload=alert(2)>'
USERS = [f"acme-user-{i}" for i in range(4)]


def build(folder: Path) -> dict[str, Path]:
    """Write events, accounts and a findings folder; return their paths."""
    ev, acc = [], []
    n = 0

    def event(aid: str, prompt: str, ip: str, ua: str, minutes: int) -> None:
        nonlocal n
        n += 1
        ev.append({"request_id": f"acme-r{n}", "ts": T0 + timedelta(minutes=minutes), "account_id": aid, "ip": ip,
                   "user_agent": ua, "prompt": prompt, "response": "...", "model": "m"})

    for i, aid in enumerate(ATTACKERS):
        acc.append({"account_id": aid, "created_at": T0, "email": f"worker{i}@mailbox.example",
                    "payment_fingerprint": "fp_card_attacker_777", "country": "ZZ", "signup_ip": f"203.0.113.{10 + i}",
                    "verified": False, "tier": "build"})
        for j, task in enumerate(TASKS):
            event(aid, TEMPLATE.format(task) + (f" {XSS}" if j == 0 else ""), f"203.0.113.{10 + i}",
                  f"scraper/1.0 {XSS}", 10 * i + j)
    for i, aid in enumerate(CLASS):
        acc.append({"account_id": aid, "created_at": T0 - timedelta(days=90), "email": f"student{i}@uni.example",
                    "payment_fingerprint": f"fp_student_{i}", "country": "FR", "signup_ip": f"192.0.2.{20 + i}",
                    "verified": True, "tier": "free"})
        for j in range(4):
            event(aid, f"homework question {j} from student {i}", f"192.0.2.{20 + i}", "Mozilla/5.0 campus", 60 + 5 * i + j)
    for aid, dom in ((SOLO, "tempmail.dev"), (WATCH, "tempmail.dev"), (XSS_ACCOUNT, "evil.example")):
        acc.append({"account_id": aid, "created_at": T0, "email": f"x@{dom}", "payment_fingerprint": f"fp_{len(acc)}",
                    "country": "ZZ", "signup_ip": "198.51.100.9", "verified": False, "tier": "free"})
        for j in range(5):
            event(aid, f"extract everything {j} {XSS}", "198.51.100.9", "curl/8.0", 120 + j)
    for i, aid in enumerate(USERS):
        acc.append({"account_id": aid, "created_at": T0 - timedelta(days=300), "email": f"person{i}@acme-customer.example",
                    "payment_fingerprint": f"fp_user_{i}", "country": "FR", "signup_ip": f"198.18.{i}.7",
                    "verified": True, "tier": "scale"})
        for j in range(3):
            event(aid, f"write a haiku about autumn {j}", f"198.18.{i}.7", "Mozilla/5.0 app", 200 + 5 * i + j)
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.parquet"
    accounts = folder / "accounts.parquet"
    pq.write_table(conform(pa.Table.from_pylist(ev), EVENT_COLUMNS), events)
    pq.write_table(conform(pa.Table.from_pylist(acc), ACCOUNT_COLUMNS), accounts)

    def reasons(sig: str, v: float) -> list[dict[str, object]]:
        return [{"signal": sig, "value": v, "weight": 1.0, "detail": f"{sig} evidence {XSS}"}]

    rows = [{"account_id": a, "score": 0.93, "verdict": "flag", "campaign_id": "c1", "reasons": reasons("templating", 0.9)}
            for a in ATTACKERS]
    rows += [{"account_id": a, "score": 0.55, "verdict": "watch", "campaign_id": "c2", "reasons": reasons("volume", 0.5)}
             for a in CLASS]
    rows += [{"account_id": SOLO, "score": 0.88, "verdict": "flag", "reasons": reasons("automation", 0.8)},
             {"account_id": WATCH, "score": 0.6, "verdict": "watch", "reasons": reasons("volume", 0.6)},
             {"account_id": XSS_ACCOUNT, "score": 0.62, "verdict": "watch", "reasons": reasons("metadata", 0.6)}]
    rows += [{"account_id": a, "score": 0.05, "verdict": "clear"} for a in USERS]
    c1 = Campaign(id="c1", account_ids=list(ATTACKERS), score=0.93, first_seen=T0.isoformat(),
                  last_seen=(T0 + timedelta(hours=1)).isoformat(), request_count=18,
                  signals={"identity_ties": 1.0, "template_concentration": 0.9, "gate": 1.0, "signal_templating": 0.9},
                  shared_infrastructure={"payment": {"accounts": 3, "values": 1, "top": ["fp_card_attacker_777 (3)"]}},
                  example_request_ids=["acme-r1", "acme-r7"], atlas_techniques=["AML.T0040", "AML.T0024.002", "AML.T0021"],
                  summary=f"3 accounts sharing one card {XSS}")
    c2 = Campaign(id="c2", account_ids=list(CLASS), score=0.55, first_seen=(T0 + timedelta(hours=1)).isoformat(),
                  last_seen=(T0 + timedelta(hours=2)).isoformat(), request_count=12,
                  signals={"network_ties": 0.9, "gate": 0.2, "signal_volume": 0.5}, atlas_techniques=["AML.T0040"],
                  summary="3 accounts on one campus network")
    meta = {"tool": "distillguard", "version": "0.test", "thresholds": {"watch": 0.5, "flag": 0.8}, "provider": "acme",
            "inputs": {"events": [str(events)], "accounts": [str(accounts)]}}
    findings = write_findings(Findings(account_table(rows), [c1, c2], meta), folder / "findings")
    return {"events": events, "accounts": accounts, "findings": findings}
