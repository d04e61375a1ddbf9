"""Pure parts: policy decisions, online state bounds and round-trip, seed loading."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.errors import ConfigError
from distillguard.findings import Campaign, Findings, account_table, write_findings
from distillguard.features.stream import request_features
from distillguard.service.account_state import AccountState
from distillguard.service.policy import Inputs, Policy, decide, load_policy
from distillguard.service.seed import load_seed

from .conftest import thread_server
from .worlds import T0, event, harvester


def test_policy_table() -> None:
    p = load_policy(None)
    base = dict(account_id="a", n=50, tier="free", per_minute=1.0)
    cases = [
        (Inputs(score=0.1, **base), "allow"),
        (Inputs(score=0.77, **base), "challenge"),  # staged: verify first
        (Inputs(score=0.85, **base), "throttle"),
        (Inputs(score=0.96, **base), "block"),
        (Inputs(score=0.95, **(base | {"n": 3})), "allow"),  # too little evidence
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.9, **base), "block"),
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.5, **base), "allow"),
        (Inputs(score=0.1, campaign_id="c1", campaign_score=0.9, own_score=0.1, **base), "allow"),  # association alone
        # tied at first sight by rare identity facts: challenged even on its first request ...
        (Inputs(score=0.9, campaign_id="c1", campaign_joined=True, own_score=0.0, **(base | {"n": 1})), "challenge"),
        # ... and blocked once an analyst confirmed the campaign
        (Inputs(score=0.9, campaign_id="c1", campaign_joined=True, campaign_confirmed=True, own_score=0.0,
                **(base | {"n": 1})), "block"),
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
    with pytest.raises(ConfigError, match="challenge <= throttle <= block"):
        load_policy(f)
    f.write_text("[nonsense]\n")
    with pytest.raises(ConfigError):
        load_policy(f)
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "missing.toml")
    assert isinstance(load_policy(None), Policy)


def test_state_is_bounded_and_round_trips() -> None:
    st = AccountState("x")
    for ev in harvester("x", 3000):
        st.tick(ev["ts"])
        st.agg.update(request_features(ev, ev["ts"]))
    assert st.n == 3000
    blob = st.to_blob()
    assert len(blob) < 128_000  # bounded: distinct counters switch to a fixed-size sketch past DISTINCT_EXACT
    back = AccountState.from_blob(blob)
    assert back.agg.row() == st.agg.row() and back.r_min == st.r_min
    with pytest.raises(ValueError, match="older guard"):
        AccountState.from_blob(orjson.dumps({"account_id": "x"}))


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
