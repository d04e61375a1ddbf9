"""Guards against generator artefacts a detector could win on instead of real signals."""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict

import numpy as np

from distillguard.simulate import netblocks as nb
from distillguard.simulate.scenario import dump_scenario, load_scenario, scenario_from_dict
from distillguard.simulate.textgen import ELICITATIONS
from distillguard.simulate.world import World


def _by_label(w: World, p: str) -> dict[str, str]:
    lab = w.labels[p]
    return dict(zip(lab.column("account_id").to_pylist(), lab.column("label").to_pylist()))


def test_dump_round_trips() -> None:
    for name in ("small", "default", "collective"):
        sc = load_scenario(name)
        again = scenario_from_dict(tomllib.loads(dump_scenario(sc)))
        assert again == sc


def test_identifier_formats_do_not_leak_the_label(small_world: World) -> None:
    for p in small_world.events:
        shapes = defaultdict(set)
        for a, label in _by_label(small_world, p).items():
            shapes[label].add(re.sub(r"[a-z0-9]", "x", a))
        assert shapes["benign"] == shapes["distillation"]


def test_attack_timing_is_jittered_and_not_all_at_world_start(small_world: World) -> None:
    starts = []
    for p, ev in small_world.events.items():
        lab = _by_label(small_world, p)
        per: dict[str, list[int]] = defaultdict(list)
        for a, t in zip(ev.column("account_id").to_pylist(), ev.column("ts").cast("int64").to_pylist()):
            if lab[a] == "distillation":
                per[a].append(t)
        for ts in per.values():
            starts.append(ts[0])
            if len(ts) >= 50:
                gaps = np.diff(np.array(ts, float))
                assert gaps.std() / max(gaps.mean(), 1e-9) > 0.5  # no fixed inter-arrival period
    world0 = min(starts)
    assert np.mean(np.array(starts) - world0 > 86400e6) > 0.3


def test_hard_benign_cases_exist(small_world: World) -> None:
    """Benign traffic must also show every 'suspicious' trait in some quantity."""
    seen = defaultdict(int)
    for p, ev in small_world.events.items():
        lab = _by_label(small_world, p)
        benign_rows = [lab[a] == "benign" for a in ev.column("account_id").to_pylist()]
        sub = ev.filter(benign_rows)
        prompts = sub.column("prompt").to_pylist()
        seen["elicited"] += sum(any(e in t for e in ELICITATIONS) for t in prompts)
        kinds = [(b.kind if (b := nb.block_of(ip)) else None) for ip in sub.column("ip").unique().to_pylist()]
        seen["cloud_ips"] += kinds.count("cloud")
        seen["vpn_ips"] += kinds.count("vpn")
        acc = small_world.accounts[p]
        cards = [c for a, c in zip(acc.column("account_id").to_pylist(), acc.column("payment_fingerprint").to_pylist())
                 if lab[a] == "benign" and c]
        seen["shared_cards"] += len(cards) - len(set(cards))
        emails = [e for a, e in zip(acc.column("account_id").to_pylist(), acc.column("email").to_pylist()) if lab[a] == "benign"]
        seen["disposable"] += sum(e.split("@")[1] in ("mailinator.com", "guerrillamail.com", "10minutemail.com", "temp-mail.org",
                                                      "yopmail.com", "sharklasers.com", "tempmail.dev", "dispostable.com",
                                                      "trashmail.com", "maildrop.cc") for e in emails)
        ip_accounts: dict[str, set[str]] = defaultdict(set)
        for a, ip in zip(sub.column("account_id").to_pylist(), sub.column("ip").to_pylist()):
            ip_accounts[ip].add(a)
        seen["nat_ip_10plus_accounts"] += sum(len(s) >= 10 for s in ip_accounts.values())
        askers: dict[str, set[str]] = defaultdict(set)
        for a, t in zip(sub.column("account_id").to_pylist(), prompts):
            askers[t].add(a)
        seen["same_prompt_3plus_accounts"] += sum(len(s) >= 3 and len(t) > 40 for t, s in askers.items())
    for k, v in seen.items():
        assert v > 0, k
    assert seen["elicited"] > 500


def test_netblock_map_is_consistent() -> None:
    for b in nb.blocks():
        assert nb.block_of(str(b.network.network_address + 1)) == b
    rng = np.random.default_rng(0)
    for ip in nb.sample_ips(rng, nb.of_kind("residential", "DE"), 50):
        blk = nb.block_of(ip)
        assert blk is not None and blk.kind == "residential" and blk.country == "DE"
