"""HTTP behaviour of the guard against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .conftest import thread_server
from .worlds import T0, chat_user, enterprise, event, harvester


def post_all(c: httpx.Client, events: list[dict], batch: int = 50) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(events), batch):
        r = c.post("/v1/events", json={"events": events[i:i + batch]})
        assert r.status_code == 200, r.text
        out += r.json()["decisions"]
    return out


def test_benign_chat_user_allowed_harvester_stopped(server: httpx.Client) -> None:
    benign = post_all(server, chat_user("alice", 60))
    assert {d["action"] for d in benign} == {"allow"}
    assert max(d["score"] for d in benign) < 0.4
    harv = post_all(server, harvester("mallory", 400))
    assert harv[-1]["action"] in ("throttle", "challenge", "block")
    first = next(i for i, d in enumerate(harv) if d["action"] != "allow")
    # The guard runs the batch scan's own detectors and calibration: this 10-minute burst
    # (no volume evidence yet: volume is per day) is challenged within its first 400 requests.
    assert first < 360, f"first action only at event {first}"
    assert harv[-1]["reasons"] and any("coverage" in r or "reasoning" in r for r in harv[-1]["reasons"])
    view = server.get("/v1/accounts/mallory").json()
    assert view["events"] == 400 and view["action"] != "allow"
    assert view["signals"]["coverage"] > 0.5 and view["history"][-1]["request_id"] == "mallory-399"


def test_enterprise_pipeline_not_blocked(server: httpx.Client) -> None:
    dec = post_all(server, enterprise("acme", 500))
    assert dec[-1]["action"] == "allow", dec[-1]


def test_single_and_batch_forms(server: httpx.Client) -> None:
    one = server.post("/v1/events", json=event("r1", "bob", T0, "hello there"))
    assert one.status_code == 200 and one.json()["request_id"] == "r1" and one.json()["action"] == "allow"
    lst = server.post("/v1/events", json=[event("r2", "bob", T0 + 1, "hi"), event("r3", "carol", "2026-01-01T00:00:05Z", "yo")])
    assert [d["request_id"] for d in lst.json()["decisions"]] == ["r2", "r3"]
    assert set(lst.json()["decisions"][0]) >= {"action", "score", "reasons", "campaign_id"}


def test_malformed_and_oversized_are_4xx(tmp_path: Path) -> None:
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'", "service.max_batch=5",
                        "service.max_body_bytes=20000", "service.max_prompt_chars=1000"]) as c:
        cases = [
            (c.post("/v1/events", content=b"{nope"), 400, "invalid JSON"),
            (c.post("/v1/events", content=b""), 400, "empty body"),
            (c.post("/v1/events", json={"account_id": "a", "prompt": "x"}), 422, "request_id"),
            (c.post("/v1/events", json=event("x", "a", T0, "p") | {"prompt_tokens": -3}), 422, "prompt_tokens"),
            (c.post("/v1/events", json=event("x", "a", "yesterday", "p")), 422, "RFC 3339"),
            (c.post("/v1/events", json=event("x", "a", T0, 42)), 422, "prompt"),
            (c.post("/v1/events", json={"events": "nope"}), 422, "list"),
            (c.post("/v1/events", json={"events": []}), 422, "empty"),
            (c.post("/v1/events", json=[event(f"x{i}", "a", T0, "p") for i in range(6)]), 413, "limit"),
            (c.post("/v1/events", json=event("x", "a", T0, "p" * 1001)), 413, "exceeds"),
            (c.post("/v1/events", content=b"[" + b" " * 30000 + b"]"), 413, "larger"),
            (c.post("/v1/feedback", json={"account_id": "a", "verdict": "maybe"}), 422, "invalid"),
        ]
        for resp, code, text in cases:
            assert resp.status_code == code, (resp.status_code, resp.text)
            assert text in resp.json()["error"], resp.text
        assert c.get("/v1/accounts/never-seen").status_code == 404
        assert c.get("/healthz").json()["status"] == "ok"


def test_feedback_overrides_and_is_kept(server: httpx.Client) -> None:
    post_all(server, harvester("eve", 600))
    assert server.get("/v1/accounts/eve").json()["action"] != "allow"
    r = server.post("/v1/feedback", json={"account_id": "eve", "verdict": "false_positive", "analyst": "kim"})
    assert r.status_code == 200 and r.json()["applied"]
    d = server.post("/v1/events", json=event("eve-x", "eve", T0 + 10_000, "Solve step by step: 2+2")).json()
    assert d["action"] == "allow" and "false positive" in d["reasons"][0]
    post_all(server, chat_user("dan", 5))
    server.post("/v1/feedback", json={"account_id": "dan", "verdict": "confirmed"})
    d = server.post("/v1/events", json=event("dan-x", "dan", T0 + 10_000, "hello")).json()
    assert d["action"] == "block"


def test_policy_reload_without_restart(tmp_path: Path) -> None:
    pol = tmp_path / "policy.toml"
    pol.write_text("[thresholds]\nthrottle = 0.99\nchallenge = 0.99\nblock = 0.99\n")
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'", f"service.policy_file='{pol}'",
                        "service.policy_check_s=0.05"]) as c:
        dec = post_all(c, harvester("m", 600))
        assert dec[-1]["action"] == "allow"
        pol.write_text("[thresholds]\nchallenge = 0.1\nthrottle = 0.2\nblock = 0.3\n")
        import time
        time.sleep(0.2)
        d = c.post("/v1/events", json=harvester("m", 1, start=T0 + 1000)[0] | {"request_id": "m-new"}).json()
        assert d["action"] == "block"
        pol.write_text("[thresholds]\nthrottle = 'high'\n")
        r = c.post("/v1/admin/reload").json()
        assert r["policy_ok"] is False and "throttle" in r["policy_error"]
        assert c.get("/healthz").json()["policy_version"] == 2  # old policy still in force
        pol.write_text("[allow]\naccounts = ['m']\n")
        assert c.post("/v1/admin/reload").json()["policy_ok"]
        d = c.post("/v1/events", json=harvester("m", 1, start=T0 + 1100)[0] | {"request_id": "m-new2"}).json()
        assert d["action"] == "allow" and any("allow-listed" in r for r in d["reasons"])


def test_concurrent_requests_for_one_account_are_consistent(server: httpx.Client) -> None:
    evs = harvester("conc", 200)
    url = str(server.base_url)

    def send(ev: dict) -> int:
        with httpx.Client(base_url=url, timeout=10) as c:
            return c.post("/v1/events", json=ev).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(send, evs))
    assert codes == [200] * 200
    view = server.get("/v1/accounts/conc").json()
    assert view["events"] == 200  # no lost updates
    m = server.get("/metrics").text
    assert re.search(r"^distillguard_events_total 200$", m, re.M)


def test_metrics_parse(server: httpx.Client) -> None:
    post_all(server, harvester("met", 120))
    server.post("/v1/events", content=b"{")
    text = server.get("/metrics").text
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) distillguard_\w+ ", line), line
            continue
        m = re.match(r'^(distillguard_\w+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+|\+Inf)$', line)
        assert m, f"bad exposition line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(4))
    assert samples["distillguard_events_total"] == 120
    assert sum(v for k, v in samples.items() if k.startswith("distillguard_decisions_total")) == 120
    assert samples['distillguard_requests_total{endpoint="/v1/events",code="400"}'] == 1
    assert samples['distillguard_decision_latency_seconds_bucket{le="+Inf"}'] == samples["distillguard_decision_latency_seconds_count"]
    assert samples["distillguard_accounts_in_memory"] == 1
