"""A hydra fragmented by rotating payment cards must still form one campaign.

Each card pays for only five accounts, so Leiden/CPM finds one dense core per card; what
ties the cores together is a *combination* of rare facts on the same pairs of accounts
(a proxy /24 and a rare client string and an email pattern). Ordinary users sharing an
ISP block, a popular SDK or a gmail shape, a classroom behind one NAT and an agency's
seats on one card must not be glued to it or to each other.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from distillguard.campaigns.cluster import communities
from distillguard.campaigns.graph import GraphParams, build_graph, email_shape


def _world(seed: int = 3) -> tuple[pa.Table, list[str], dict[str, set[str]]]:
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    personas: dict[str, set[str]] = {}

    def add(acc: str, persona: str, **facts: str) -> None:
        personas.setdefault(persona, set()).add(acc)
        rows.extend((acc, k, v) for k, v in facts.items())

    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(60):  # 12 cards x 5 accounts; 8 proxy /24s; 3 rare clients; one email pattern
        name = "".join(rng.choice(letters) for _ in range(6)) + str(rng.randint(1000, 9999))
        add(f"h{i:03d}", "hydra", payment=f"card-{i // 5}", subnet=f"10.{rng.randrange(8)}.7.0/24|1",
            user_agent=f"harvest-client/{rng.randrange(3)}", email_pattern=email_shape(f"{name}@proton.me") or "")
    shapes = [f"a{n}d{d}@gmail.com" for n in range(4, 9) for d in range(1, 5)]
    for i in range(300):  # ordinary users: shared ISP blocks, popular SDK, common gmail shapes, own cards
        add(f"p{i:03d}", "public", payment=f"pcard-{i}", subnet=f"172.16.{rng.randrange(60)}.0/24|1",
            user_agent="popular-sdk/1.0", email_pattern=rng.choice(shapes))
    for i in range(30):  # classroom behind one NAT, university emails
        add(f"c{i:03d}", "classroom", payment=f"ccard-{i}", ip="192.168.1.1|1", subnet="192.168.1.0/24|1",
            user_agent="popular-sdk/1.0", email_pattern=rng.choice(["a1a5@uni.edu", "a5d2@uni.edu"]))
    for i in range(10):  # agency: ten seats on one card in one office
        add(f"g{i:03d}", "agency", payment="agency-card", subnet="192.168.9.0/24|1", user_agent="popular-sdk/1.0",
            email_pattern=email_shape(f"seat{i}@agency.example") or "")
    table = pa.table({"account_id": [r[0] for r in rows], "kind": [r[1] for r in rows], "value": [r[2] for r in rows]})
    return table, sorted({r[0] for r in rows}), personas


def _groups(merge_facts: int) -> tuple[list[set[str]], dict[str, set[str]]]:
    attrs, accounts, personas = _world()
    graph = build_graph(attrs, accounts, GraphParams())
    groups = communities(graph, merge_facts=merge_facts)
    return [{accounts[i] for i in g.tolist()} for g in groups], personas


def test_rotating_cards_hydra_is_one_campaign() -> None:
    groups, personas = _groups(merge_facts=2)
    hydra = personas["hydra"]
    best = max(groups, key=lambda g: len(g & hydra))
    assert len(best & hydra) >= 0.9 * len(hydra)
    assert best <= hydra  # nobody else glued in
    for g in groups:  # hard benign cases stay apart from each other and from the hydra
        kinds = {p for p, members in personas.items() if g & members}
        assert len(kinds) == 1, kinds


def test_without_merge_the_hydra_is_fragmented() -> None:
    """The regression the merge fixes: CPM alone gives one small core per card."""
    groups, personas = _groups(merge_facts=0)
    hydra = personas["hydra"]
    assert max(len(g & hydra) for g in groups) < 0.5 * len(hydra)
    assert np.mean([len(g) for g in groups if g & hydra]) < 15


def test_strong_ties_separate_operators_from_bystanders() -> None:
    """Hydra members share a card or mail scheme plus infrastructure with a sibling: strong.
    A bystander placed in the same community that shares only an ISP block and a client
    string is weakly tied, and decide/ lets it inherit less."""
    from distillguard.campaigns.cluster import strong_ties
    from distillguard.config import Settings
    from distillguard.decide.scoring import tie_factor

    attrs, accounts, personas = _world()
    extra = pa.table({"account_id": ["bystander", "bystander"], "kind": ["subnet", "user_agent"],
                      "value": ["10.1.7.0/24|1", "harvest-client/1"]})
    attrs = pa.concat_tables([attrs, extra])
    accounts = sorted(set(accounts) | {"bystander"})
    graph = build_graph(attrs, accounts, GraphParams())
    member = np.full(len(accounts), -1, dtype=np.int64)
    idx = {a: i for i, a in enumerate(accounts)}
    for a in personas["hydra"] | {"bystander"}:
        member[idx[a]] = 0  # put the bystander in the hydra's community on purpose
    strong = strong_ties(graph, member)
    assert sum(strong[idx[a]] for a in personas["hydra"]) >= 0.9 * len(personas["hydra"])
    assert not strong[idx["bystander"]]
    s = Settings()
    assert tie_factor(True, s) == 1.0 and tie_factor(False, s) == s.scoring.campaign_inherit_floor < 1.0
