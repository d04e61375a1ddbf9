"""Campaign grouping on hand-made worlds (real DuckDB, igraph, leidenalg; no mocks)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from campaign_world import build

from distillguard.campaigns import MEMBERSHIP_SCHEMA, find_campaigns
from distillguard.campaigns.graph import GraphParams, build_graph, email_shape, rarity, subnet
from distillguard.config import Settings
from distillguard.detectors.base import ScanContext


def _settings() -> Settings:
    s = Settings()
    # The hand-made world is a 541-account slice; rarity is judged against a provider's
    # population (a 200-account hydra is 37% of this slice, 0.4% of a 50k-account provider).
    s.campaigns.reference_population = 20_000
    return s


def test_hydra_is_one_campaign_and_benign_personas_are_not() -> None:
    ctx, scores, personas = build()
    res = find_campaigns(ctx, scores, _settings())
    assert res.membership.schema == MEMBERSHIP_SCHEMA
    assert len(res.campaigns) == 1, [c.summary for c in res.campaigns]
    c = res.campaigns[0]
    hydra = set(personas["hydra"])
    assert set(c.account_ids) <= hydra and len(c.account_ids) >= 190
    assert c.score >= 0.8
    assert c.id.startswith("cmp-") and c.request_count == 20 * len(c.account_ids)
    assert {"payment", "subnet"} <= set(c.shared_infrastructure)
    assert c.shared_infrastructure["payment"]["values"] == 3
    assert c.shared_infrastructure["template"]["values"] == 3
    assert c.signals["template_concentration"] > 0.8
    assert "AML.T0021" in c.atlas_techniques and "AML.T0065" in c.atlas_techniques
    assert len(c.example_request_ids) == 5 and c.first_seen and c.last_seen
    assert "3 payment cards" in c.summary
    members = set(res.membership.column("account_id").to_pylist())
    for persona in ("classroom", "agency", "enterprise", "public"):
        assert not members & set(personas[persona]), persona


def test_classroom_alone_is_not_a_suspicious_campaign() -> None:
    ctx, scores, personas = build()
    keep = set(personas["classroom"]) | set(personas["public"])
    ctx.con.execute("create or replace view events as select * from _ev where account_id in "
                    f"({', '.join(repr(a) for a in sorted(keep))})")
    sub = scores.filter(pa.compute.is_in(scores.column("account_id"), pa.array(sorted(keep))))
    res = find_campaigns(ctx, sub, _settings())
    assert res.campaigns == []
    assert res.considered >= 1  # the NAT does group them; the group just is not suspicious


def test_deterministic() -> None:
    a = find_campaigns(*build(seed=3)[:2], Settings())
    b = find_campaigns(*build(seed=3)[:2], Settings())
    assert [c.to_dict() for c in a.campaigns] == [c.to_dict() for c in b.campaigns]
    assert a.membership.equals(b.membership)


def test_disabled_and_empty() -> None:
    ctx, scores, _ = build()
    s = Settings()
    s.campaigns.enabled = False
    assert find_campaigns(ctx, scores, s).campaigns == []
    con = duckdb.connect()
    con.execute("create table events (request_id varchar, ts timestamptz, account_id varchar, prompt varchar)")
    res = find_campaigns(ScanContext(con=con), pa.table({"account_id": pa.array([], pa.string()),
                                                          "score": pa.array([], pa.float64())}), Settings())
    assert res.campaigns == [] and res.membership.num_rows == 0


def test_rarity_weighting() -> None:
    p = GraphParams(reference_population=10_000, max_bucket=2000)
    w = rarity(np.array([2, 30, 200, 1000, 1999, 5000]), 50_000, p)
    assert w[0] == 1.0 and np.all(np.diff(w[:5]) < 0) and w[5] == 0.0
    # Two accounts sharing a rare card are tied more strongly than two of 1,000 sharing gmail's shape.
    rows = [("a", "payment", "card-x"), ("b", "payment", "card-x")]
    rows += [(f"u{i}", "email_pattern", "a5d2@gmail.com") for i in range(1000)]
    attrs = pa.table({"account_id": [r[0] for r in rows], "kind": [r[1] for r in rows], "value": [r[2] for r in rows]})
    accounts = sorted({r[0] for r in rows})
    g = build_graph(attrs, accounts, GraphParams())
    idx = {a: i for i, a in enumerate(accounts)}
    w_card = g.weight[(g.src == idx["a"]) & (g.dst == idx["b"])]
    assert len(w_card) == 1 and w_card[0] == 3.0
    assert g.n_edges == 1  # in a world of 1,002 accounts, a shape 1,000 share ties nobody
    big = build_graph(attrs, accounts, GraphParams(reference_population=100_000))
    gmail = big.weight[(big.src != idx["a"]) & (big.src != idx["b"])]
    assert len(gmail) and gmail.max() < 0.5  # in a 100k world it is a weak tie ...
    assert big.n_edges < 1000 * 12  # ... through a sparse expander, not a 500k-edge clique


def test_attribute_helpers() -> None:
    assert email_shape("anna1984@Proton.me") == "a4d4@proton.me"
    assert email_shape("first.last@uni.edu") == "a5.a4@uni.edu"
    assert email_shape("nope") is None
    assert subnet("203.0.113.77") == "203.0.113.0/24"
    assert subnet("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert subnet("2001:db8::1") == "2001:db8:0::/48"
    assert subnet(None) is None
