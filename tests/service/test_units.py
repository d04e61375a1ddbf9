"""Pure parts: policy decisions, online state bounds and round-trip, seed loading."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.errors import ConfigError
from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.service.online import AccountState, PopulationBaseline, featurize
from distillguard.service.policy import Inputs, Policy, decide, load_policy
from distillguard.service.seed import load_seed

from .conftest import thread_server
from .worlds import T0, event, harvester


def test_policy_table() -> None:
    p = load_policy(None)
    base = dict(account_id="a", n=50, tier="free", per_minute=1.0)
    cases = [
        (Inputs(score=0.1, **base), "allow"),
        (Inputs(score=0.65, **base), "throttle"),
        (Inputs(score=0.8, **base), "challenge"),
        (Inputs(score=0.95, **base), "block"),
        (Inputs(score=0.95, **(base | {"n": 3})), "allow"),  # too little evidence
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.9, **base), "block"),
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.5, **base), "allow"),
        (Inputs(score=0.1, campaign_id="c1", campaign_joined=True, **base), "throttle"),
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.9, own_score=0.1, **base), "allow"),  # association alone
        (Inputs(score=0.1, campaign_id="c1", campaign_joined=True, own_score=0.2, **base), "allow"),
        (Inputs(score=0.35, campaign_id="c1", campaign_score=0.9, own_score=0.35, **base), "block"),
        (Inputs(score=0.1, intel_corroboration=3.0, **base), "throttle"),
        (Inputs(score=0.1, **(base | {"per_minute": 50.0})), "throttle"),  # free tier limit 20/min
        (Inputs(score=0.1, hold_action="block", hold_active=True, **base), "block"),
        (Inputs(score=0.99, override="false_positive", **base), "allow"),
        (Inputs(score=0.0, override="confirmed", **base), "block"),
    ]
    for x, want in cases:
        assert decide(p, x)[0] == want, x
    assert decide(p, Inputs(score=0.99, **base), frozenset({"a"}))[0] == "allow"


def test_policy_rejects_bad_files(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text("[thresholds]\nthrottle = 0.9\nblock = 0.5\n")
    with pytest.raises(ConfigError, match="throttle <= challenge <= block"):
        load_policy(f)
    f.write_text("[nonsense]\n")
    with pytest.raises(ConfigError):
        load_policy(f)
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "missing.toml")
    assert isinstance(load_policy(None), Policy)


def test_state_is_bounded_and_round_trips() -> None:
    st = AccountState("x")
    for i, ev in enumerate(harvester("x", 2000)):
        st.learn_one(featurize(ev, ev["ts"]), slots=32)
    assert len(st.tmpl) <= 32 and st.n == 2000
    blob = orjson.dumps(st.to_dict())
    assert len(blob) < 4000
    back = AccountState.from_dict(orjson.loads(blob))
    assert back.signals(120.0) == st.signals(120.0)
    fast = st.to_blob()  # the flush format: positional, and smaller
    assert len(fast) < len(blob)
    again = AccountState.from_blob(fast)
    assert again.signals(120.0) == st.signals(120.0) and again.tmpl == st.tmpl and again.bloom == st.bloom
    assert AccountState.from_blob(blob).n == st.n  # older dict snapshots still load


def test_baseline_is_bounded() -> None:
    b = PopulationBaseline(max_keys=10, cap=3, popular_at=2)
    for i in range(50):
        b.learn(f"a{i}", [i, 999])
    assert len(b.accounts) <= 10 and len(b.accounts[999]) == 3
    assert b.popularity([999]) == 1.0 and b.popularity([12345]) == 0.0


def _findings(tmp_path: Path) -> Path:
    rows = [{"account_id": "h1", "score": 0.92, "verdict": "flag", "campaign_id": "camp-1"},
            {"account_id": "h2", "score": 0.3, "verdict": "clear", "campaign_id": "camp-1"},
            {"account_id": "ok", "score": 0.01, "verdict": "clear"}]
    camp = Campaign(id="camp-1", account_ids=["h1", "h2"], score=0.95, first_seen=None, last_seen=None, request_count=10)
    return write_findings(Findings(account_table(rows), [camp]), tmp_path / "findings")


def _intel(tmp_path: Path) -> Path:
    t = pa.table({"account_id": ["i-single", "i-corr", "i-revoked"], "corroboration": [1.0, 3.0, 5.0],
                  "category": ["investigation-seed", "confirmed", "confirmed"], "revoked": [False, False, True],
                  "disputed": [False, False, False], "evidence": ["same card", "same card at 3 orgs", "old"]})
    pq.write_table(t, tmp_path / "matches.parquet")
    return tmp_path / "matches.parquet"


def test_seed_from_findings_and_intel(tmp_path: Path) -> None:
    seed = load_seed(str(_findings(tmp_path)), str(_intel(tmp_path)))
    assert seed.accounts["h2"].campaign_id == "camp-1" and "ok" not in seed.accounts
    assert set(seed.intel) == {"i-single", "i-corr"}
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'", f"service.findings_dir='{tmp_path / 'findings'}'",
                        f"service.intel_matches='{tmp_path / 'matches.parquet'}'"]) as c:
        d = c.post("/v1/events", json=event("1", "h2", T0, "hello")).json()
        # a member the scan itself cleared is watched, not blocked, on association alone
        assert d["action"] == "allow" and d["campaign_id"] == "camp-1" and any("watched" in r for r in d["reasons"])
        assert c.post("/v1/events", json=event("2", "i-corr", T0, "hi")).json()["action"] == "throttle"
        single = c.post("/v1/events", json=event("3", "i-single", T0, "hi")).json()
        assert single["action"] == "allow" and any("review" in r for r in single["reasons"])
        assert c.post("/v1/events", json=event("4", "i-revoked", T0, "hi")).json()["action"] == "allow"
        # a new account reusing the campaign's infrastructure joins it online
        for i in range(3):
            h1 = c.post("/v1/events", json=event(f"h1-{i}", "h1", T0 + i, "Solve step by step: what is 2+2?", ip="203.0.113.9")).json()
            assert h1["action"] == "block"  # flagged by the scan and in a campaign: blocked on sight
        last = None
        for i in range(4):
            last = c.post("/v1/events", json=event(f"n-{i}", "newbie", T0 + 10 + i, "tell me a joke", ip="203.0.113.9")).json()
        # it joins the campaign, but with no evidence of its own it is only watched
        assert last is not None and last["campaign_id"] == "camp-1" and last["action"] == "allow"
        assert any("watched" in r for r in last["reasons"])
