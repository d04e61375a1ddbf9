"""Presets for benign personas and distillation campaign types.

A preset is only a set of default :class:`~distillguard.simulate.scenario.Params`; the
same generator (simulate/groups.py) runs all of them, so benign and attack traffic differ
only in the parameters that really differ in the world — volume, breadth, wrapping,
elicitation, identity and infrastructure — never in a code path a detector could key on.
Ranges (``[lo, hi]``) are drawn per campaign.

The benign presets deliberately include the hard cases: pipelines that are templated and
24/7, researchers that run a benchmark with "Let's think step by step" at high volume,
classrooms of fresh accounts behind one NAT address, agencies with many accounts on one
card and patterned emails, resellers, VPN and mobile users, heavy long-lived users.
"""

from __future__ import annotations

from typing import Any

HUMAN_MIX = {"chat": 0.45, "factual": 0.12, "business": 0.12, "code": 0.08, "math": 0.08, "instructions": 0.1, "reasoning": 0.05}

BENIGN: dict[str, dict[str, Any]] = {
    "casual_chat": dict(
        multi_home=0.05,
        rate=[0.2, 6.0], profile="human", weekend=0.8, session_mean=4, gap_median_s=45, gap_sigma=0.9,
        families=HUMAN_MIX, multi_turn=0.6, elicitation=0.04, ip="home", vpn_share=0.06, mobile_share=0.3,
        ua={"browser": 0.75, "sdk": 0.15, "script": 0.1}, free_share=0.65, reasoning_model_share=0.15, email={"consumer": 0.9, "disposable": 0.03, "corporate": 0.07},
        tier={"free": 0.65, "build": 0.35}, verified=0.3, late_join=0.15,
    ),
    "developer": dict(
        multi_home=0.2,
        rate=[2.0, 60.0], profile="work", weekend=0.3, session_mean=8, gap_median_s=25, gap_sigma=1.2,
        families={"code": 0.7, "chat": 0.08, "instructions": 0.1, "business": 0.06, "reasoning": 0.06},
        multi_turn=0.35, elicitation=0.05, ip="dev", ua={"sdk": 0.6, "script": 0.3, "browser": 0.1}, free_share=0.3, system={"coder": 0.4, "assistant": 0.2},
        email={"consumer": 0.5, "corporate": 0.45, "disposable": 0.05}, tier={"free": 0.3, "build": 0.55, "scale": 0.15},
        verified=0.5, reasoning_model_share=0.2, late_join=0.15,
    ),
    "enterprise_pipeline": dict(
        multi_home=0.5,
        accounts=1, rate=[800.0, 9000.0], profile=["flat", "flat", "work"], weekend=[0.3, 1.0], session_mean=[10, 80],
        gap_median_s=[0.3, 3.0], gap_sigma=[0.3, 0.8], families={"templated": 1.0}, per_session_family=False,
        templated_single=True, template_share=[0.3, 1.0], elicitation=[0.0, 0.25], paraphrase=0.0,
        system={"support": 0.85, "cot": 0.1}, reasoning_model_share=[0.0, 0.3], ip="cloud", ua="pipeline",
        free_share=0.0, email={"corporate": 1.0}, signup={"old": 0.8, "recent": 0.2}, tier={"scale": 0.6, "enterprise": 0.4},
        verified=0.95, late_join=0.0, completion_scale=0.5,
    ),
    "researcher": dict(
        multi_home=0.3,
        accounts=1, rate=[1500.0, 12000.0], account_active_days=[0.5, 2.0], late_join=1.0, profile="flat", weekend=1.0,
        session_mean=[50, 400], gap_median_s=[0.2, 1.5], gap_sigma=[0.3, 0.7], families={"math": 0.5, "reasoning": 0.5},
        per_session_family=False, benchmark=True, elicitation=[0.5, 1.0], elicitation_variants=1, paraphrase=0.0,
        template_share=[0.0, 0.5], system={"tutor": 0.2}, reasoning_model_share=[0.3, 1.0], ip="cloud", ua={"script": 0.6, "sdk": 0.4},
        free_share=0.1, email={"edu": 0.6, "corporate": 0.3, "consumer": 0.1}, tier={"build": 0.7, "scale": 0.3},
        verified=0.6, signup={"old": 0.4, "recent": 0.4, "fresh": 0.2},
    ),
    "classroom": dict(
        rate=[1.0, 10.0], group_size=[12, 40], profile="school", weekend=0.05, session_mean=5, gap_median_s=70,
        families={"math": 0.45, "reasoning": 0.1, "chat": 0.15, "factual": 0.2, "instructions": 0.1},
        multi_turn=0.4, elicitation=[0.05, 0.3], shared_prompts=[0.2, 0.6], ip="nat", mobile_share=0.1, ua="browser", free_share=0.95,
        email={"edu": 0.7, "consumer": 0.3}, signup={"fresh": 0.5, "recent": 0.5}, tier={"free": 1.0}, verified=0.05,
        late_join=0.4, countries={"US": 0.4, "GB": 0.15, "IN": 0.15, "DE": 0.1, "BR": 0.1, "KR": 0.1},
    ),
    "office_nat": dict(
        multi_home=0.3,
        rate=[2.0, 25.0], group_size=[5, 60], profile="work", weekend=0.1, session_mean=6, gap_median_s=40,
        families={"business": 0.45, "code": 0.2, "chat": 0.2, "instructions": 0.15}, multi_turn=0.4, elicitation=0.02,
        shared_prompts=[0.0, 0.15],
        ip="nat", mobile_share=0.05, ua="browser", card="group", free_share=0.0, email={"corporate": 1.0},
        tier={"build": 0.6, "scale": 0.4}, verified=0.7,
    ),
    "agency": dict(
        multi_home=0.5,
        rate=[3.0, 40.0], group_size=[5, 30], profile="work", weekend=0.2, session_mean=6, gap_median_s=30,
        families={"business": 0.75, "chat": 0.1, "instructions": 0.15}, template_share=[0.1, 0.5], multi_turn=0.2,
        ip="home", mobile_share=0.05, ua={"sdk": 0.5, "browser": 0.5}, card="group", free_share=0.0, email={"patterned": 0.7, "corporate": 0.3},
        tier={"build": 0.7, "scale": 0.3}, verified=0.6, signup={"old": 0.3, "recent": 0.5, "fresh": 0.2},
    ),
    "heavy_user": dict(
        multi_home=0.3,
        rate=[25.0, 200.0], profile="human", weekend=0.9, session_mean=10, gap_median_s=35, gap_sigma=1.0,
        families=HUMAN_MIX, multi_turn=0.7, elicitation=0.08, ip="home", vpn_share=0.1, mobile_share=0.3,
        ua={"browser": 0.6, "sdk": 0.3, "script": 0.1}, free_share=0.0, signup={"old": 0.9, "recent": 0.1}, tier={"build": 0.5, "scale": 0.5},
        verified=0.7, reasoning_model_share=0.3, late_join=0.0,
    ),
    "cot_student": dict(
        rate=[1.0, 20.0], profile="evening", weekend=0.9, session_mean=5, gap_median_s=60, gap_sigma=0.8,
        families={"math": 0.5, "reasoning": 0.25, "chat": 0.15, "code": 0.1}, multi_turn=0.4, elicitation=[0.3, 0.8],
        elicitation_variants=3, ip="home", mobile_share=0.4, vpn_share=0.05, ua="browser", free_share=0.8,
        email={"consumer": 0.6, "edu": 0.35, "disposable": 0.05}, tier={"free": 0.8, "build": 0.2},
        reasoning_model_share=0.4, late_join=0.3,
    ),
    "vpn_mobile": dict(
        rate=[0.5, 10.0], profile="human", weekend=0.9, session_mean=4, gap_median_s=50, families=HUMAN_MIX,
        multi_turn=0.5, ip="home", vpn_share=0.7, mobile_share=0.6, ua="browser", free_share=0.6,
        email={"consumer": 0.85, "disposable": 0.15}, late_join=0.2,
    ),
    "reseller": dict(
        accounts=1, rate=[800.0, 6000.0], profile="human", weekend=0.85, session_mean=3, gap_median_s=20,
        families=HUMAN_MIX, multi_turn=0.5, elicitation=0.04, ip="cloud", ua="pipeline", free_share=0.0,
        email={"corporate": 1.0}, signup={"old": 0.6, "recent": 0.4}, tier={"scale": 0.5, "enterprise": 0.5},
        verified=0.9, late_join=0.0, system={"assistant": 0.7},
    ),
}

_ATTACK = dict(label="distillation", late_join=0.0, paraphrase=0.1, per_session_family=False)

CAMPAIGNS: dict[str, dict[str, Any]] = {
    "bulk_harvest": dict(
        _ATTACK, accounts=[2, 12], requests=[15000, 60000], start_day=[0.0, 6.0], duration_days=[3.0, 12.0],
        account_start_spread=[0.0, 3.0], profile=["flat", "work", "flat"], weekend=[0.5, 1.0], session_mean=[8, 60],
        gap_median_s=[0.5, 5.0], gap_sigma=[0.3, 1.2],
        families={"instructions": 0.7, "business": 0.1, "code": 0.1, "chat": 0.1}, template_share=[0.1, 0.9],
        multi_turn=[0.0, 0.15],
        elicitation=[0.0, 0.1], elicitation_variants=[2, 6], ip="mixed", ip_sticky="session",
        ua={"script": 0.5, "sdk": 0.4, "browser": 0.1},
        free_share=0.1, card="prepaid", email={"consumer": 0.5, "disposable": 0.2, "patterned": 0.3},
        signup={"fresh": 0.6, "recent": 0.25, "old": 0.15}, tier={"build": 0.7, "scale": 0.3}, verified=0.4,
    ),
    "cot_harvest": dict(
        _ATTACK, accounts=[1, 8], requests=[8000, 40000], start_day=[0.0, 8.0], duration_days=[2.0, 10.0],
        account_start_spread=[0.0, 2.0], profile=["flat", "work", "human"], weekend=[0.5, 1.0], session_mean=[5, 40],
        gap_median_s=[1.0, 8.0], gap_sigma=[0.4, 1.2], families={"math": 0.5, "reasoning": 0.5},
        elicitation=[0.55, 1.0], elicitation_variants=[3, 12], system={"cot": 0.5, "tutor": 0.1},
        reasoning_model_share=[0.6, 1.0], template_share=[0.0, 0.6], ip="mixed",
        ua={"sdk": 0.6, "script": 0.3, "browser": 0.1}, free_share=0.1,
        card="prepaid", email={"consumer": 0.6, "disposable": 0.15, "patterned": 0.25},
        signup={"fresh": 0.5, "recent": 0.3, "old": 0.2}, tier={"build": 0.8, "scale": 0.2}, verified=0.4,
    ),
    "capability_sweep": dict(
        _ATTACK, accounts=[3, 15], requests=[10000, 50000], start_day=[0.0, 6.0], duration_days=[3.0, 12.0],
        account_start_spread=[0.0, 2.0], profile=["flat", "work"], weekend=[0.5, 1.0], session_mean=[10, 80],
        gap_median_s=[0.5, 6.0], gap_sigma=[0.3, 1.0],
        families={"chat": 0.14, "code": 0.15, "business": 0.14, "math": 0.15, "reasoning": 0.14, "instructions": 0.14, "factual": 0.14},
        template_share=[0.4, 1.0], multi_turn=[0.0, 0.3], elicitation=[0.0, 0.3], elicitation_variants=[2, 8], system={"assistant": 0.5},
        reasoning_model_share=[0.1, 0.6], ip="mixed", ua={"sdk": 0.7, "script": 0.3}, free_share=0.05, card="prepaid",
        email={"consumer": 0.5, "corporate": 0.2, "patterned": 0.3}, signup={"fresh": 0.5, "recent": 0.3, "old": 0.2},
        tier={"build": 0.6, "scale": 0.4}, verified=0.5,
    ),
    "hydra": dict(
        _ATTACK, accounts=[150, 900], requests=[40000, 120000], start_day=[0.0, 5.0], duration_days=[4.0, 14.0],
        account_start_spread=[0.01, 0.3], profile=["flat", "work"], weekend=[0.6, 1.0], session_mean=[3, 15],
        gap_median_s=[2.0, 20.0], gap_sigma=[0.5, 1.3],
        families={"instructions": 0.45, "math": 0.15, "reasoning": 0.1, "chat": 0.15, "code": 0.15},
        template_share=[0.2, 0.8], multi_turn=[0.0, 0.25], elicitation=[0.0, 0.4], elicitation_variants=[3, 10], reasoning_model_share=[0.1, 0.5],
        ip="proxy_resi", ip_sticky="session", proxy_pool=[300, 3000], ua="rotating", card="pool", card_pool=[4, 40],
        free_share=[0.2, 0.7], email={"patterned": 0.5, "disposable": 0.3, "consumer": 0.2},
        signup={"fresh": 0.85, "recent": 0.1, "old": 0.05}, tier={"free": 0.6, "build": 0.4}, verified=0.1,
        ban_rate=[0.1, 0.5],
    ),
    "low_and_slow": dict(
        _ATTACK, accounts=[20, 120], rate=[2.0, 14.0], start_day=[0.0, 3.0], duration_days=None,
        account_start_spread=[2.0, 10.0], profile="human", weekend=[0.6, 0.9], session_mean=[2, 5],
        gap_median_s=[30.0, 120.0], gap_sigma=[0.7, 1.1], per_session_family=True,
        families={"math": 0.25, "reasoning": 0.2, "instructions": 0.25, "chat": 0.15, "code": 0.15}, multi_turn=[0.2, 0.6],
        paraphrase=[0.5, 0.9], elicitation=[0.15, 0.5], elicitation_variants=[4, 12], reasoning_model_share=[0.3, 0.7],
        ip="proxy_resi", ip_sticky="account", proxy_pool=[200, 2000], ua="browser", card="prepaid", free_share=0.3,
        email={"consumer": 0.8, "patterned": 0.1, "disposable": 0.1}, signup={"fresh": 0.4, "recent": 0.3, "old": 0.3},
        tier={"free": 0.4, "build": 0.6}, verified=0.4, mobile_share=0.1,
    ),
    "reseller_mixed": dict(
        BENIGN["reseller"], label="distillation", harvest_share=[0.08, 0.35],
        harvest_families={"reasoning": 0.4, "math": 0.2, "instructions": 0.4}, elicitation=[0.4, 0.9],
        elicitation_variants=[2, 6], template_share=[0.3, 0.8],
    ),
}
