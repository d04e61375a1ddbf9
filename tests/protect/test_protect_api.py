"""POST /v1/protect on a real guard (uvicorn on 127.0.0.1): it follows the account's decision."""

from __future__ import annotations

from pathlib import Path

import httpx

from distillguard.config import load_config
from distillguard.protect.watermark import Watermark
from distillguard.service.app import create_app
from distillguard.testing.server import ThreadedServer

SECRET = b"api-test-secret-0123456789"
T0 = 1_767_225_600.0
GSM = ("Natalia sold 48/2 = 24 clips in May, so she bought more.\nShe also needs 10 more in June.\n"
       "Natalia sold 48+24+10 = 82 clips altogether in April, May and June.\n#### 82")


def _policy(tmp_path: Path, extra: str = "") -> Path:
    key = tmp_path / "protect.key"
    key.write_bytes(SECRET)
    pol = tmp_path / "policy.toml"
    pol.write_text(f'[feedback]\nconfirmed_action = "degrade"\n[protect]\nkey_file = "{key}"\ncanary_rate = 1.0\n{extra}')
    return pol


def _serve(tmp_path: Path, policy: Path | None) -> ThreadedServer:
    sets = [f"service.state_path='{tmp_path / 'state.db'}'"]
    if policy is not None:
        sets.append(f"service.policy_file='{policy}'")
    return ThreadedServer(create_app(load_config(None, sets)), log_level="error", loop="asyncio", http="h11")


def test_protect_follows_the_decision(tmp_path: Path) -> None:
    with _serve(tmp_path, _policy(tmp_path)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        body = {"account_id": "alice", "request_id": "r1", "prompt": "How many clips?", "response": GSM}
        ok = c.post("/v1/protect", json=body).json()
        assert ok["action"] == "allow" and ok["degrade"] == "none" and not ok["canary"]
        assert ok["applied"] == ["watermark"] and ok["response"].endswith("#### 82") and ok["watermark_sites"] >= 3
        assert ok["response"] == c.post("/v1/protect", json=body).json()["response"]  # deterministic per account
        wm = Watermark(SECRET)
        assert ok["response"] == wm.apply(GSM, "alice").text  # the library and the endpoint agree

        # an analyst confirms mallory; the policy maps confirmed -> degrade; the next event applies it
        assert c.post("/v1/feedback", json={"account_id": "mallory", "verdict": "confirmed"}).status_code == 200
        ev = {"request_id": "e1", "account_id": "mallory", "ts": T0, "prompt": "How many clips?"}
        assert c.post("/v1/events", json=ev).json()["action"] == "degrade"
        bad = c.post("/v1/protect", json={**body, "account_id": "mallory", "request_id": "r2",
                                          "reasoning": "Step one. Step two.\nSo the answer is 82."}).json()
        assert bad["action"] == "degrade" and bad["degrade"] == "final" and bad["canary"]
        assert bad["reasoning"] == "" and bad["response"].startswith("#### 82")
        r = c.post("/v1/protect", json={"account_id": "x"})
        assert r.status_code == 422 and {tuple(d["loc"]) for d in r.json()["details"]} >= {("request_id",), ("prompt",)}
        assert c.post("/v1/protect", content=b"{not json").status_code == 400
        assert c.post("/v1/protect", content=b"").status_code == 400
        assert 'endpoint="/v1/protect",code="200"' in c.get("/metrics").text


def test_protect_refuses_oversized_bodies(tmp_path: Path) -> None:
    sets = [f"service.state_path='{tmp_path / 'state.db'}'", f"service.policy_file='{_policy(tmp_path)}'",
            "service.max_body_bytes=2000"]
    with ThreadedServer(create_app(load_config(None, sets)), log_level="error", loop="asyncio", http="h11") as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/v1/protect", json={"account_id": "a", "request_id": "r", "prompt": "p", "response": "x" * 5000})
        assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_protect_without_a_key_says_how_to_set_one(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DISTILLGUARD_PROTECT_KEY", raising=False)
    with _serve(tmp_path, None) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/v1/protect", json={"account_id": "a", "request_id": "r", "prompt": "p", "response": "t"})
        assert r.status_code == 503 and "key_file" in r.json()["error"]


def test_protect_reads_the_decision_of_an_evicted_account(tmp_path: Path) -> None:
    sets = [f"service.state_path='{tmp_path / 'state.db'}'", f"service.policy_file='{_policy(tmp_path)}'",
            "service.max_accounts=1"]
    with ThreadedServer(create_app(load_config(None, sets)), log_level="error", loop="asyncio", http="h11") as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        c.post("/v1/feedback", json={"account_id": "mallory", "verdict": "confirmed"})
        assert c.post("/v1/events", json={"request_id": "e1", "account_id": "mallory", "ts": T0,
                                          "prompt": "q"}).json()["action"] == "degrade"
        for i, who in enumerate(["bob", "carol", "dave"]):  # push mallory out of memory
            c.post("/v1/events", json={"request_id": f"o{i}", "account_id": who, "ts": T0 + i, "prompt": "hi"})
        c.post("/v1/admin/flush")
        out = c.post("/v1/protect", json={"account_id": "mallory", "request_id": "r9", "prompt": "q",
                                          "response": GSM}).json()
        assert out["action"] == "degrade" and out["degrade"] == "final"
        assert c.post("/v1/protect", json={"account_id": "nobody", "request_id": "r", "prompt": "q",
                                           "response": GSM}).json()["action"] == "allow"
