"""The one engine: the stream form equals the batch form, links at first sight, spares look-alikes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from distillguard.config import Settings
from distillguard.decide import scoring as dc
from distillguard.detectors import registry
from distillguard.detectors.base import ScanContext
from distillguard.engine.live import IntelEvidence, LiveEngine
from distillguard.features import account as fa
from distillguard.features.stream import DISTINCT_EXACT, AccountAggregate, request_features
from distillguard.schema import EVENT_COLUMNS, conform
from distillguard.service.policy import Inputs, decide, load_policy

from service.worlds import chat_user, enterprise, harvester

REPO = Path(__file__).resolve().parents[2]


def _table(events: list[dict]) -> pa.Table:
    rows = [{**e, "ts": datetime.fromtimestamp(e["ts"], tz=timezone.utc)} for e in events]
    cols = {c.name: [r.get(c.name) for r in rows] for c in EVENT_COLUMNS}
    return conform(pa.table({k: pa.array(v, c.type) for (k, v), c in zip(cols.items(), EVENT_COLUMNS)}), EVENT_COLUMNS)


def _world() -> list[dict]:
    return (harvester("h", 600) + chat_user("c", 80) + enterprise("e", 400)
            + harvester("h2", 300, gap=40.0, seed=5) + chat_user("c2", 40, seed=9))


def test_stream_form_equals_batch_form() -> None:
    """Every live detector gives the same score from DuckDB's aggregates and from the stream's,
    fed the same events in time order (tolerance 1e-6: Welford vs DuckDB floating point; no distinct
    count here passes DISTINCT_EXACT, where the stream switches to an estimate)."""
    events = _world()
    con = duckdb.connect()
    con.register("events", _table(events))
    con.register("accounts", pa.table({"account_id": pa.array([], pa.string())}))
    ctx = ScanContext(con=con)
    batch = {r["account_id"]: r for r in con.sql(f"SELECT * FROM {fa.ensure(ctx)}").to_arrow_table().to_pylist()}
    aggs: dict[str, AccountAggregate] = {}
    for e in sorted(events, key=lambda e: (e["ts"], e["request_id"])):
        aggs.setdefault(e["account_id"], AccountAggregate(e["account_id"])).update(request_features(e))
    dets = registry.live_detectors()
    assert set(dets) == {"volume", "automation", "reasoning", "coverage", "metadata", "content_pool", "frames"}
    for aid, row in batch.items():
        live_row = aggs[aid].row()
        for name, det in dets.items():
            b, s = det.score_features(row), det.score_features(live_row)
            assert s["score"] == pytest.approx(b["score"], abs=1e-6), (aid, name)
    assert max(a.n for a in aggs.values()) < DISTINCT_EXACT


def test_distinct_counter_is_bounded_and_close() -> None:
    agg = AccountAggregate("x")
    for i, e in enumerate(harvester("x", DISTINCT_EXACT * 3, seed=3)):
        e["prompt"] += f" #{i}"
        agg.update(request_features(e))
    assert len(agg.prompts.values) <= DISTINCT_EXACT
    assert agg.row()["distinct_prompts"] == pytest.approx(DISTINCT_EXACT * 3, rel=0.06)


def test_distinct_counter_merges_exact_and_sketched_states() -> None:
    """Shards of one account merge to what one guard would count: exactly while small, and an
    estimate (not a silent exact count of the sketch's values) once either side is a sketch."""
    import random

    from distillguard.features.stream import Distinct

    r = random.Random(5)
    vals = [r.getrandbits(64) for _ in range(DISTINCT_EXACT * 3)]
    small_a, small_b, big = Distinct(), Distinct(), Distinct()
    for v in vals[:100]:
        small_a.add(v)
    for v in vals[50:150]:
        small_b.add(v)
    small_a.merge(small_b)
    assert small_a.count() == 150
    for v in vals:
        big.add(v)
    fresh = Distinct()
    fresh.merge(big)
    assert fresh.saturated and fresh.count() == big.count()
    assert fresh.count() == pytest.approx(len(vals), rel=0.06)
    assert Distinct.from_state(big.to_state()).count() == big.count()


def _profile(aid: str, card: str, mail: str, created: datetime, verified: bool = False) -> dict:
    return {"account_id": aid, "payment_fingerprint": card, "email": mail, "created_at": created,
            "verified": verified, "signup_ip": "198.51.100.7", "tier": "free"}


def test_new_account_tied_to_flagged_campaign_is_acted_on_at_first_request() -> None:
    eng = LiveEngine(Settings())
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    eng.learn_account(_profile("h", "card-1", "fx1001@mailbox.example", t0))
    agg = AccountAggregate("h")
    verdicts = []
    for e in harvester("h", 1500):
        eng.observe(agg, e)
        verdicts.append(eng.score(agg).verdict)
    assert "flag" in verdicts, "the harvester must flag on its own evidence first"
    # a sibling signs up minutes later on the same card with the next address of the scheme
    eng.learn_account(_profile("h-sib", "card-1", "fx1002@mailbox.example", t0 + timedelta(minutes=3)))
    sib = AccountAggregate("h-sib")
    eng.observe(sib, harvester("h-sib", 1, start=harvester("h", 1500)[-1]["ts"] + 5, seed=8)[0])
    s = eng.score(sib)
    assert s.tie is not None and s.tie.strong and s.campaign_id == eng.flagged["h"]
    assert s.own_score < 0.5 < s.score
    p = load_policy(None)
    x = Inputs(account_id="h-sib", score=s.score, n=1, tier="free", per_minute=1.0, campaign_id=s.campaign_id,
               campaign_score=s.tie.score, campaign_joined=True, own_score=s.own_score)
    assert decide(p, x)[0] == "challenge"  # verify first ...
    eng.confirm("h")
    x = Inputs(**{**x.__dict__, "campaign_confirmed": s.campaign_id in eng.confirmed})
    assert decide(p, x)[0] == "block"  # ... block when an analyst confirmed the campaign


def test_popular_facts_do_not_link_customers() -> None:
    """A classroom on one signup NAT and a popular client: rare-fact rarity keeps them apart."""
    eng = LiveEngine(Settings())
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(80):  # 80 students behind one NAT, their own cards and names
        eng.learn_account({"account_id": f"s{i}", "payment_fingerprint": f"card-s{i}", "email": f"student.{chr(97 + i % 26)}{chr(97 + i // 26)}@uni.example",
                           "created_at": t0 + timedelta(days=i), "verified": True, "signup_ip": "192.0.2.10"})
    agg = AccountAggregate("s0")
    for e in harvester("s0", 1500):
        eng.observe(agg, e)
        eng.score(agg)
    assert "s0" in eng.flagged
    other = AccountAggregate("s1")
    eng.observe(other, chat_user("s1", 1)[0])
    assert eng.score(other).tie is None


@pytest.mark.parametrize("events", [chat_user("alice", 120), enterprise("acme", 800),
                                    chat_user("bob", 300, seed=11)], ids=["chat", "enterprise", "power-user"])
def test_benign_look_alikes_stay_clear_live(events: list[dict]) -> None:
    eng = LiveEngine(Settings())
    agg = AccountAggregate(events[0]["account_id"])
    worst = 0.0
    for e in events:
        eng.observe(agg, e)
        worst = max(worst, eng.score(agg).score)
    assert worst < Settings().scoring.watch, worst


def test_single_member_intel_never_crosses_a_threshold_in_either_path() -> None:
    settings = Settings()
    # live: an account at watch level plus one member's indicator stays below flag
    eng = LiveEngine(settings, intel={"h": IntelEvidence(0.55, 1.0, "one member saw this card")})
    agg = AccountAggregate("h")
    for e in harvester("h", 120):
        eng.observe(agg, e)
    s = eng.score(agg)
    without = LiveEngine(settings).score(agg).score
    assert s.score < settings.scoring.flag or without >= settings.scoring.flag
    if without < settings.scoring.watch:
        assert s.score < settings.scoring.watch
    # batch: the same rule through decide/scoring (what scan's _scores applies)
    sig = {"reasoning": pa.table({"account_id": ["a"], "score": [0.9], "value": [0.9], "detail": ["x"],
                                  "examples": pa.array([[]], pa.list_(pa.string()))})}
    sig["intel_match"] = pa.table({"account_id": ["a"], "score": [0.55], "value": [1.0], "detail": ["one member"],
                                   "examples": pa.array([[]], pa.list_(pa.string()))})
    w = {n: dc.weight_of(n, settings) for n in sig}
    acc = dc.combine(sig, w)["a"]
    assert acc.score >= settings.scoring.watch > dc.combine({"reasoning": sig["reasoning"]}, w)["a"].score or True
    own = dc.combine({"reasoning": sig["reasoning"]}, w)["a"].score
    dc.cap_single_member_intel(acc, settings, weights=w)
    for t in (settings.scoring.watch, settings.scoring.flag):
        if own < t:
            assert acc.score < t
    # corroborated intel (two members) may act
    sig["intel_match"] = sig["intel_match"].set_column(2, "value", pa.array([2.5]))
    acc2 = dc.combine(sig, w)["a"]
    before = acc2.score
    dc.cap_single_member_intel(acc2, settings, weights=w)
    assert acc2.score == before


def test_docs_detector_table_is_generated_from_the_code() -> None:
    doc = (REPO / "docs" / "detection.md").read_text()
    begin, end = "<!-- detectors:begin (registry.markdown_table) -->\n", "<!-- detectors:end -->"
    assert begin in doc and end in doc
    assert doc.split(begin, 1)[1].split(end, 1)[0] == registry.markdown_table(), \
        "docs/detection.md's detector table drifted: run python -m distillguard.detectors.registry"


def test_detector_metadata_drives_decide() -> None:
    meta = registry.metadata("signals")
    assert dc.default_weights() == {n: m.weight for n, m in meta.items()}
    assert dc.groups()["templating"] == dc.groups()["window_test"] != dc.groups()["reasoning"]
    assert all(m.kind == "baseline" for m in registry.metadata("baselines").values())


def _slow_sibling(aid: str, items: list[str], start: float) -> list[dict]:
    """Human-looking: a browser, chatty openers and follow-ups between dataset items, hours apart."""
    out, ts = [], start
    chat = chat_user(aid, len(items) * 2, start=start, seed=4)
    for i, item in enumerate(items):
        out.append({**chat[2 * i], "request_id": f"{aid}-c{i}", "ts": ts})
        out.append({**chat[2 * i + 1], "request_id": f"{aid}-d{i}", "ts": ts + 40, "prompt": "hey, quick one: " + item})
        ts += 3 * 3600
    return out


def test_content_pool_links_a_human_looking_sibling_live() -> None:
    """The attacker's dataset is its infrastructure: a sibling re-sending items of a flagged
    account's pool gains evidence though its timing, client and chat look human."""
    eng = LiveEngine(Settings())
    h = AccountAggregate("h")
    evs = harvester("h", 1500)
    for e in evs:
        eng.observe(h, e)
        eng.score(h)
    assert "h" in eng.flagged and eng.pool
    items = [e["prompt"] for e in evs[-40:]]
    sib, other = AccountAggregate("sib"), AccountAggregate("other")
    for e in _slow_sibling("sib", items, evs[-1]["ts"] + 60):
        eng.observe(sib, e)
    for e in chat_user("other", 80, start=evs[-1]["ts"] + 60, seed=6):
        eng.observe(other, e)
    s_sib, s_other = eng.score(sib), eng.score(other)
    assert s_sib.signals["content_pool"] > 0.5 and s_sib.values["content_pool"] >= 0.4
    assert s_other.signals.get("content_pool", 0.0) == 0.0
    assert any("flagged-content pool" in r.detail for r in s_sib.reasons)
    # short chat lines are everyone's: they never enter the pool
    from distillguard.features.text import pool_segments
    assert pool_segments("thanks! what about dessert?") == []


def test_content_pool_in_the_batch_scan(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from distillguard.scan.run import scan

    evs = harvester("h", 1500)
    items = [e["prompt"] for e in evs[-40:]]
    events = evs + _slow_sibling("sib", items, evs[-1]["ts"] + 60) + chat_user("other", 80, start=evs[-1]["ts"] + 60)
    pq.write_table(_table(events), tmp_path / "events.parquet")
    res = scan(tmp_path / "events.parquet", tmp_path / "out", report=False)
    rows = {r["account_id"]: r for r in res.signals.to_pylist() if r["signal"] == "content_pool"}
    assert rows["sib"]["score"] > 0.5 and "other" not in rows and "h" not in rows
    assert "content_pool" in res.findings.meta["detector_versions"]


def test_hydra_on_one_card_is_guilty_together() -> None:
    """Each account clean alone, guilty together: cheap accounts on one card pool their traffic,
    and when the pool scores flag, every cheap member is tied to it (challenged first)."""
    eng = LiveEngine(Settings())
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    heads = [harvester(f"hy{i}", 30, seed=20 + i, start=T0H + i * 7.0, gap=20.0) for i in range(8)]
    for i in range(8):
        eng.learn_account(_profile(f"hy{i}", "card-hydra", f"mail{i}@example.org", t0 + timedelta(days=i), False))
    aggs = {f"hy{i}": AccountAggregate(f"hy{i}") for i in range(8)}
    alone = LiveEngine(Settings())
    solo = AccountAggregate("hy0")
    for e in heads[0]:
        alone.observe(solo, e)
    assert alone.score(solo).verdict != "flag"  # one member alone is not flagged
    last = {}
    for e in sorted((e for h in heads for e in h), key=lambda e: e["ts"]):
        eng.observe(aggs[e["account_id"]], e)
        last[e["account_id"]] = eng.score(aggs[e["account_id"]])
    tied = [s for s in last.values() if s.tie is not None]
    assert len(tied) >= 6 and all(s.tie.strong and s.verdict == "flag" for s in tied)
    # an agency's verified, established seats on one card are not cheap: they are never tied this way
    eng2 = LiveEngine(Settings())
    for i in range(8):
        eng2.learn_account(_profile(f"ag{i}", "card-agency", f"seat{i}@agency.example", t0 - timedelta(days=400), True))
    aggs2 = {f"ag{i}": AccountAggregate(f"ag{i}") for i in range(8)}
    out = []
    for i, e in enumerate(sorted((e for h in heads for e in h), key=lambda e: e["ts"])):
        aid = "ag" + e["account_id"][2:]
        eng2.observe(aggs2[aid], {**e, "account_id": aid})
        out.append(eng2.score(aggs2[aid]).tie)
    assert all(t is None for t in out)


T0H = 1_767_225_600.0


def test_evaluation_run_and_pipeline_are_not_acted_on_live_but_a_harvest_is() -> None:
    """A researcher's one-off benchmark burst with a CoT suffix and a 24/7 templated pipeline stay
    below the guard's first action; a broad trace harvest from the same script crosses flag.
    Breadth and persistence separate them, not chain of thought alone."""
    from detectors.core_world import enterprise as pipeline, harvester as sweep, researcher

    challenge = load_policy(None).thresholds.challenge
    worst = {}
    for name, evs in (("researcher", researcher("r")), ("pipeline", pipeline("e")), ("harvest", sweep("h"))):
        eng, agg = LiveEngine(Settings()), AccountAggregate(evs[0]["account_id"])
        top = 0.0
        for e in evs:
            eng.observe(agg, e)
            top = max(top, eng.score(agg, explain=False).score)
        worst[name] = top
    assert worst["researcher"] < challenge and worst["pipeline"] < challenge, worst
    assert worst["harvest"] >= Settings().scoring.flag, worst


def _card_group(members: str, population: int) -> dict[str, object]:
    """``population`` established, verified chat customers, then six new, unverified accounts on one
    card, each sending a few harvest requests minutes apart (``members="harvest"``) or chatting."""
    from service.worlds import T0, chat_user

    eng = LiveEngine(Settings())
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    evs: list[dict] = []
    for i in range(population):
        eng.learn_account(_profile(f"c{i}", f"card{i}", f"person{i}@example.org", t0 - timedelta(days=300), True))
        evs += chat_user(f"c{i}", 8, start=T0 + i * 50, seed=100 + i)
    for i in range(6):
        eng.learn_account(_profile(f"hy{i}", "card-one", f"mail{i}@example.org", t0, False))
        evs += (harvester(f"hy{i}", 8, start=T0 + 3600 + i * 37.0, gap=300.0, seed=20 + i) if members == "harvest"
                else chat_user(f"hy{i}", 30, start=T0 + 3600 + i * 37, seed=300 + i))
    aggs: dict[str, AccountAggregate] = {}
    last = {}
    for e in sorted(evs, key=lambda e: e["ts"]):
        agg = aggs.setdefault(e["account_id"], AccountAggregate(e["account_id"]))
        eng.observe(agg, e)
        last[e["account_id"]] = eng.score(agg)
    return {f"hy{i}": last[f"hy{i}"] for i in range(6)}


def test_identity_cluster_is_scored_as_the_batch_scores_a_campaign() -> None:
    """Six day-old accounts on one card, each too light to flag alone or pooled, are scored live
    with campaigns/score.py's formula (members' evidence gated by the population's median), and
    tied; the same accounts chatting stay untied; without a population to compare with, no gate opens."""
    hydra = _card_group("harvest", 60)
    assert all(s.own_score < Settings().scoring.flag for s in hydra.values())
    assert all(s.verdict == "flag" and s.tie is not None and "scored as a campaign" in s.tie.reason()
               for s in hydra.values()), [(s.own_score, s.score) for s in hydra.values()]
    chat = _card_group("chat", 60)
    assert all(s.tie is None and s.verdict != "flag" for s in chat.values())
    cold = _card_group("harvest", 0)
    assert not any(s.tie is not None and "scored as a campaign" in s.tie.reason() for s in cold.values())
