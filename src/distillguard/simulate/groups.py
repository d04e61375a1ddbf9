"""One generator for every persona and campaign: a group of accounts on one provider.

A *group* is a benign persona instance or one campaign on one provider. The same code
path produces both; only :class:`Params` differ. Work is vectorised with numpy over
sessions and requests; the only per-request Python is string assembly (prompt text).

Shared infrastructure (:class:`Infra`) is drawn from the *actor's* random stream, not the
provider's, so an actor attacking three providers reuses the same proxy addresses, card
fingerprints, email scheme, prompt wrappers and elicitation phrasing there — which is
what makes cross-provider intel sharing measurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillguard.simulate import identity as idn
from distillguard.simulate import netblocks as nb
from distillguard.simulate import textgen
from distillguard.simulate.clients import assign_ips, assign_user_agents, pick_from
from distillguard.simulate.corpus import PromptSource
from distillguard.simulate.infra import Infra, Shared, obj_array, py_rng
from distillguard.simulate.scenario import Params, ProviderSpec, sample
from distillguard.simulate.timing import DAY, session_starts, within_session_offsets

COMPLETION_MEDIAN = {"chat": 180, "factual": 70, "business": 320, "code": 450, "math": 230, "reasoning": 260,
                     "instructions": 240, "templated": 90}
RESPONSE_OPENERS = {
    "chat": "Sure! Here's what I'd suggest.", "factual": "Here is a short answer.", "business": "Here's a draft you can adapt.",
    "code": "Here's one way to do it:", "math": "Let's compute this.", "reasoning": "Let's reason about this.",
    "instructions": "Here you go:", "templated": "Result:",
}



@dataclass
class GroupOut:
    """A group's requests (column arrays, ts in seconds since world start) and accounts."""

    events: dict[str, Any]
    accounts: dict[str, Any]
    n: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def build_group(
    rng: np.random.Generator, p: Params, prov: ProviderSpec, source: PromptSource, infra: Infra, shared: Shared,
    *, days: float, start_weekday: int, scale: float, offset_days: float = 0.0,
    ident_rng: np.random.Generator | None = None,
) -> GroupOut:
    """Generate one group's accounts and requests (see module docstring)."""
    v = {k: sample(rng, getattr(p, k)) for k in (
        "accounts", "weekend", "session_mean", "gap_median_s", "gap_sigma", "multi_turn", "elicitation",
        "template_share", "paraphrase", "reasoning_model_share", "group_size", "ban_rate", "harvest_share",
        "start_day", "account_start_spread", "shared_prompts")}
    p = p.model_copy(update={k: sample(rng, getattr(p, k)) for k in ("late_join", "vpn_share", "mobile_share",
                                                                    "free_share", "verified")})
    profile = p.profile if isinstance(p.profile, str) else p.profile[int(rng.integers(0, len(p.profile)))]
    n = max(1, int(round(v["accounts"] * scale)))
    rate_mult = v["accounts"] * scale / n  # keeps volume linear in scale when rounding to whole accounts
    world_end = days * DAY
    g0 = min((v["start_day"] + offset_days) * DAY, world_end - DAY / 4)
    g1 = world_end if p.duration_days is None else min(world_end, g0 + sample(rng, p.duration_days) * DAY)
    # --- account windows and volume ---------------------------------------------------------
    a_start = g0 + rng.uniform(0, max(v["account_start_spread"] * DAY, 1.0), n)
    late = rng.random(n) < p.late_join
    a_start[late] = rng.uniform(g0, max(g0 + 1, g1 - DAY / 4), int(late.sum()))
    a_start = np.minimum(a_start, g1 - 600)
    if p.account_active_days is not None:
        spans = np.array([sample(rng, p.account_active_days) for _ in range(n)]) * DAY
        a_end = np.minimum(a_start + spans, g1)
    else:
        a_end = np.full(n, g1)
    active = np.maximum(a_end - a_start, 60.0) / DAY
    if p.requests is not None:
        total = sample(rng, p.requests) * scale
        w = rng.lognormal(0, 0.35, n) * active
        expected = total * w / w.sum()
    else:
        lo, hi = (p.rate if isinstance(p.rate, list) else [p.rate, p.rate])
        rate = np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)), n))
        expected = rate * active * rate_mult
    # --- identity (country sets the timezone of humans) --------------------------------------
    country = idn.countries(rng, p.countries, n)
    n_home = int(round(float(p.multi_home) * n)) if ident_rng is not None else 0
    if n_home:  # the same people / companies hold accounts at several providers
        country[:n_home] = idn.countries(ident_rng, p.countries, n_home)
    human_tz = np.array([nb.COUNTRY_TZ[c] for c in country.tolist()], float)
    tz = human_tz if p.label == "benign" else np.full(n, infra.tz) + rng.normal(0, 0.3, n)
    # --- sessions and request times ------------------------------------------------------------
    m = max(1.0, v["session_mean"])
    n_sess = rng.poisson(expected / m)
    s_acct = np.repeat(np.arange(n), n_sess)
    ok, s_start = session_starts(rng, s_acct, a_start, a_end, tz, profile, v["weekend"], start_weekday)
    s_acct, s_start = s_acct[ok], s_start[ok]
    ns = len(s_acct)
    if ns == 0:  # a tiny group at a small scale may make no requests at all
        return _empty()
    sizes = (1 + rng.negative_binomial(1, 1.0 / m, ns)) if m > 1 else np.ones(ns, np.int64)
    sizes = sizes.astype(np.int64)
    off = within_session_offsets(rng, sizes, v["gap_median_s"], v["gap_sigma"])
    ev_sess = np.repeat(np.arange(ns), sizes)
    first_idx = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if ns else np.zeros(0, np.int64)
    pos = np.arange(len(ev_sess)) - np.repeat(first_idx, sizes)
    ts = np.repeat(s_start, sizes) + off
    acct = s_acct[ev_sess] if ns else np.zeros(0, np.int64)
    ne = len(ts)
    keep = ts < np.minimum(a_end[acct] + 3600, world_end) if ne else np.zeros(0, bool)
    # --- bans: a banned account's remaining traffic moves to a fresh replacement -------------
    parent = np.arange(n)
    if v["ban_rate"] > 0 and ne:
        banned = np.flatnonzero(rng.random(n) < v["ban_rate"])
        t_ban = rng.uniform(a_start[banned], a_end[banned])
        delay = rng.uniform(600, 6 * 3600, len(banned))
        for j, (a, tb, d) in enumerate(zip(banned.tolist(), t_ban.tolist(), delay.tolist())):
            after = (acct == a) & (ts >= tb)
            keep &= ~((acct == a) & (ts >= tb) & (ts < tb + d))
            acct[after] = n + j
        parent = np.concatenate([parent, banned])
        a_start = np.concatenate([a_start, t_ban + delay])
        a_end = np.concatenate([a_end, a_end[banned]])
        a_end[banned] = t_ban
        country = np.concatenate([country, idn.countries(rng, p.countries, len(banned))])
    n_all = len(parent)
    accounts = _accounts(rng, p, prov, infra, country, a_start, n_all, v["group_size"])
    if n_home:
        assert ident_rng is not None
        accounts["email"][:n_home] = idn.emails(ident_rng, idn.choose_keys(ident_rng, p.email, n_home))
        cards = obj_array(idn.fingerprints(ident_rng, n_home))
        has = np.array([c is not None and p.card == "own" for c in accounts["payment_fingerprint"][:n_home]], bool)
        accounts["payment_fingerprint"][:n_home][has] = cards[has]
    # --- network and client --------------------------------------------------------------------
    sess_of = ev_sess
    ip = assign_ips(rng, p, infra, shared, country, accounts["group"], acct, sess_of, ns, ne)
    ua = assign_user_agents(rng, p, infra, acct, sess_of, ns, n_all)
    keys = accounts.pop("keys")
    k_choice = rng.integers(0, 1 << 30, ns)[sess_of] if ns else np.zeros(0, np.int64)
    api_key = obj_array([keys[a][k % len(keys[a])] for a, k in zip(acct.tolist(), k_choice.tolist())])
    # --- content -------------------------------------------------------------------------------
    harvest = rng.random(ne) < v["harvest_share"]
    fams_s = idn.choose_keys(rng, p.families, ns)
    fam = fams_s[sess_of] if p.per_session_family else idn.choose_keys(rng, p.families, ne)
    if harvest.any():
        fam[harvest] = idn.choose_keys(rng, p.harvest_families, int(harvest.sum()))
    conv_s = rng.random(ns) < v["multi_turn"]
    is_follow = conv_s[sess_of] & (pos > 0) & ~harvest
    el_acct = _habit(rng, v["elicitation"], p.habit_spread, n_all)
    rm_acct = _habit(rng, v["reasoning_model_share"], p.habit_spread, n_all)
    el_rate = np.where(harvest, v["elicitation"], 0.04) if v["harvest_share"] > 0 else el_acct[acct]
    tpl_rate = np.where(harvest, v["template_share"], 0.0) if v["harvest_share"] > 0 else np.full(ne, v["template_share"])
    elicit = rng.random(ne) < el_rate
    wrap = rng.random(ne) < tpl_rate
    para = rng.random(ne) < v["paraphrase"]
    template = source.templates(rng, "templated", p.sources) if p.templated_single else None
    prompts = _prompts(rng, p, source, fam, is_follow, first_idx, sess_of, pos, template)
    if v["shared_prompts"] > 0 and ne:
        _share_within_groups(rng, p, source, prompts, fam, is_follow, accounts["group"][acct], v["shared_prompts"])
    sys_kind = _system_kinds(rng, p.system, ne)
    prompt_txt, sys_txt = _assemble(rng, prompts, elicit, wrap, para, sys_kind, infra)
    conv_id = _conversations(rng, conv_s, sess_of, ua, ne)
    if not prov.conversation_ids:
        conv_id[:] = None
    # --- model and usage -----------------------------------------------------------------------
    reasoning = rng.random(ne) < np.minimum(rm_acct[acct] + 0.3 * elicit, 1.0)
    pref = rng.integers(0, len(prov.models), n_all)
    model_idx = np.where(rng.random(ne) < 0.85, pref[acct], rng.integers(0, len(prov.models), ne))
    model = obj_array(prov.models)[model_idx]
    if prov.reasoning_models:
        model[reasoning] = obj_array(prov.reasoning_models)[rng.integers(0, len(prov.reasoning_models), int(reasoning.sum()))]
    else:
        reasoning[:] = False
    plen = np.array([len(s) for s in prompt_txt]) + np.array([len(s) if s else 0 for s in sys_txt])
    ptok = np.maximum(1, np.round(plen / 4 * rng.uniform(0.85, 1.15, ne))).astype(np.int64)
    med = np.array([COMPLETION_MEDIAN.get(f, 200) for f in fam.tolist()], float) * p.completion_scale
    ctok = np.maximum(1, rng.lognormal(np.log(np.maximum(med * np.where(elicit, 2.2, 1.0), 1)), 0.6)).astype(np.int64)
    rmed = 700 * np.where(elicit | np.isin(fam, ["math", "reasoning"]), 1.8, 1.0)
    rtok = np.where(reasoning, rng.lognormal(np.log(rmed), 0.7), 0).astype(np.int64)
    response = None
    if prov.responses:
        response = obj_array([("Let me work through this step by step. " if e else "") + RESPONSE_OPENERS.get(f, "Here you go.")
                         for f, e in zip(fam.tolist(), elicit.tolist())])
    cols = {"ts": ts, "acct": acct, "api_key_id": api_key, "ip": ip, "user_agent": ua, "model": model,
            "conversation_id": conv_id, "system_prompt": sys_txt, "prompt": prompt_txt, "response": response,
            "prompt_tokens": ptok, "completion_tokens": ctok, "reasoning_tokens": rtok}
    cols = {k: (c[keep] if c is not None else None) for k, c in cols.items()}
    used = np.unique(cols["acct"])
    return GroupOut(cols, accounts, n=int(keep.sum()), extra={"used_accounts": used, "profile": profile})


def _empty() -> GroupOut:
    cols: dict[str, Any] = {k: np.empty(0, dtype=object) for k in (
        "api_key_id", "ip", "user_agent", "model", "conversation_id", "system_prompt", "prompt", "response")}
    cols.update(ts=np.empty(0), acct=np.empty(0, np.int64), prompt_tokens=np.empty(0, np.int64),
                completion_tokens=np.empty(0, np.int64), reasoning_tokens=np.empty(0, np.int64))
    return GroupOut(cols, {"account_id": []}, n=0, extra={"used_accounts": np.empty(0, np.int64), "profile": ""})


def _accounts(rng: np.random.Generator, p: Params, prov: ProviderSpec, infra: Infra, country: np.ndarray,
              a_start: np.ndarray, n: int, group_size: float) -> dict[str, Any]:
    gs = max(1, int(round(group_size)))
    group = np.sort(rng.integers(0, max(1, int(np.ceil(n / gs))), n))
    ids = [prov.account_prefix + t for t in idn.random_token(rng, n, 16)]
    kinds = idn.choose_keys(rng, p.email, n)
    domains = {g: idn.corporate_domain(rng) for g in np.unique(group).tolist()}
    patterns = {g: (f"{idn.WORDS[int(rng.integers(0, len(idn.WORDS)))]}+", domains[g]) for g in domains}
    email = []
    for i, k in enumerate(kinds.tolist()):
        g = int(group[i])
        if p.label == "distillation":
            email.extend(idn.emails(rng, np.array([k], dtype=object), pattern=infra.email_pattern))
        else:
            email.extend(idn.emails(rng, np.array([k], dtype=object), org_domain=domains[g] if p.ip in ("nat", "cloud") or p.card == "group" else None,
                                    pattern=patterns[g]))
    free = rng.random(n) < p.free_share
    if p.card == "group":
        gcards = idn.fingerprints(rng, int(group.max()) + 1)
        card = obj_array([gcards[g] for g in group.tolist()])
    elif p.card == "pool":
        card = pick_from(rng, infra.cards, n)
    else:
        card = obj_array(idn.fingerprints(rng, n))
        if p.card == "prepaid":  # virtual cards, a share reused from the operator's stock
            reuse = rng.random(n) < 0.3
            card[reuse] = pick_from(rng, infra.cards, int(reuse.sum()))
    card[free] = None
    kinds_s = idn.choose_keys(rng, p.signup, n)
    age = np.select([kinds_s == "old", kinds_s == "recent"], [rng.uniform(180, 1500, n), rng.uniform(7, 180, n)],
                    rng.uniform(0.02, 3, n)) * DAY
    tier = idn.choose_keys(rng, p.tier, n)
    tier[free & (tier != "free")] = "free"
    n_keys = rng.integers(1, 4 if p.ip == "cloud" else 3, n)
    keys = [["key_" + t for t in idn.random_token(rng, int(k), 12)] for k in n_keys.tolist()]
    return {"account_id": ids, "created_s": a_start - age, "email": email, "payment_fingerprint": card,
            "country": country, "verified": rng.random(n) < p.verified, "tier": tier, "group": group, "keys": keys}


def _habit(rng: np.random.Generator, mean: float, spread: float, n: int) -> np.ndarray:
    """Per-account share around a group mean (Beta): some people always ask for steps, most never."""
    m = float(np.clip(mean, 1e-4, 1 - 1e-4))
    if m <= 1e-4 or spread <= 0:
        return np.full(n, mean)
    return rng.beta(m * spread, (1 - m) * spread, n)


def _system_kinds(rng: np.random.Generator, system: dict[str, float], ne: int) -> np.ndarray:
    none = max(0.0, 1.0 - sum(system.values()))
    return idn.choose_keys(rng, {**system, "": none}, ne)


def _prompts(rng: np.random.Generator, p: Params, source: PromptSource, fam: np.ndarray, is_follow: np.ndarray,
             first_idx: np.ndarray, sess: np.ndarray, pos: np.ndarray, template: str | None) -> list[tuple[str, ...]]:
    ne = len(fam)
    recs: list[tuple[str, ...]] = [()] * ne
    need = ~is_follow
    if p.benchmark:  # one benchmark file, each record once in shuffled order
        main = max(sorted(p.families), key=lambda k: p.families[k])
        idx = np.flatnonzero(need)
        for i, r in zip(idx.tolist(), source.benchmark(rng, main, len(idx), p.sources)):
            recs[i] = r
        need = np.zeros(ne, bool)
    for f in sorted(set(fam[need].tolist())):
        idx = np.flatnonzero(need & (fam == f))
        globs = p.sources if p.sources and f in p.families else None
        drawn = source.draw(rng, f, len(idx), globs=globs, template=template if f == "templated" else None)
        for i, r in zip(idx.tolist(), drawn):
            recs[i] = r
    fl = np.flatnonzero(is_follow)
    fo = first_idx[sess[fl]] if len(fl) else np.zeros(0, np.int64)
    tr = py_rng(rng)
    for i, f0, k in zip(fl.tolist(), fo.tolist(), pos[fl].tolist()):
        r0 = recs[f0]
        recs[i] = (r0[k],) if k < len(r0) else (textgen.followup(tr),)
    return recs


def _share_within_groups(rng: np.random.Generator, p: Params, source: PromptSource, recs: list[tuple[str, ...]],
                         fam: np.ndarray, is_follow: np.ndarray, grp: np.ndarray, share: float) -> None:
    """Accounts of one group (a class, an office) ask from a common set: the same homework."""
    pick = np.flatnonzero((rng.random(len(recs)) < share) & ~is_follow)
    for g in np.unique(grp[pick]).tolist():
        idx = pick[grp[pick] == g]
        main = max(sorted(p.families), key=lambda k: p.families[k])
        pool = source.draw(rng, main, int(rng.integers(8, 40)), globs=p.sources)
        for i, j in zip(idx.tolist(), rng.integers(0, len(pool), len(idx)).tolist()):
            recs[i] = pool[j]


def _assemble(rng: np.random.Generator, recs: list[tuple[str, ...]], elicit: np.ndarray, wrap: np.ndarray,
              para: np.ndarray, sys_kind: np.ndarray, infra: Infra) -> tuple[np.ndarray, np.ndarray]:
    ne = len(recs)
    el_pick = rng.integers(0, len(infra.elicit), ne)
    w_pick = rng.integers(0, len(infra.wrappers), ne)
    suffix = rng.random(ne) < infra.elicit_suffix
    tr = py_rng(rng)
    out = []
    for i in range(ne):
        t = recs[i][0]
        if para[i]:
            t = textgen.paraphrase(tr, t)
        if elicit[i]:
            ph = infra.elicit[el_pick[i]]
            t = f"{t}\n\n{ph}" if suffix[i] else f"{ph}\n\n{t}"
        if wrap[i]:
            t = infra.wrappers[w_pick[i]].replace("{i}", str(i)).replace("{p}", t)
        out.append(t)
    sys_map = {"": None, **infra.system}
    sys_txt = obj_array([sys_map[k] or None for k in sys_kind.tolist()])
    return obj_array(out), sys_txt


def _conversations(rng: np.random.Generator, conv_s: np.ndarray, sess: np.ndarray, ua: np.ndarray, ne: int) -> np.ndarray:
    ns = len(conv_s)
    sess_ids = obj_array(["conv_" + t for t in idn.random_token(rng, ns, 14)])
    out = np.empty(ne, dtype=object)
    if ne == 0:
        return out
    in_conv = conv_s[sess]
    out[in_conv] = sess_ids[sess[in_conv]]
    app = np.array([u.startswith(("Mozilla", "ChatApp")) for u in ua.tolist()], bool) & ~in_conv
    out[app] = obj_array(["conv_" + t for t in idn.random_token(rng, int(app.sum()), 14)])
    return out
