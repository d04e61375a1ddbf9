"""Network and client attributes of requests: addresses by block kind, user agents.

Humans sit on a home ISP address with mobile and VPN sessions, offices and classes share a
NAT address, pipelines use a few cloud addresses, and attackers rotate through their
actor's datacenter or residential proxy pools with per-request, per-session or per-account
stickiness. See netblocks.py for the address map.
"""

from __future__ import annotations

import numpy as np

from distillguard.simulate import identity as idn
from distillguard.simulate import netblocks as nb
from distillguard.simulate.infra import Infra, Shared, obj_array
from distillguard.simulate.scenario import Params


def home_ips(rng: np.random.Generator, countries: np.ndarray, kind: str = "residential") -> np.ndarray:
    out = np.empty(len(countries), dtype=object)
    for c in sorted(set(countries.tolist())):
        idx = np.flatnonzero(countries == c)
        out[idx] = nb.sample_ips(rng, nb.of_kind(kind, c), len(idx))
    return out


def pick_from(rng: np.random.Generator, pool: list[str], n: int) -> np.ndarray:
    return obj_array(pool)[rng.integers(0, len(pool), n)] if n else np.empty(0, dtype=object)


def sticky(rng: np.random.Generator, pool: list[str], how: str, acct: np.ndarray, sess: np.ndarray, ns: int, ne: int) -> np.ndarray:
    if how == "request":
        return pick_from(rng, pool, ne)
    if how == "account":
        per = pick_from(rng, pool, int(acct.max()) + 1 if ne else 0)
        out = per[acct]
        drift = rng.random(ne) < 0.05
        out[drift] = pick_from(rng, pool, int(drift.sum()))
        return out
    return pick_from(rng, pool, ns)[sess] if ns else np.empty(0, dtype=object)


def assign_ips(rng: np.random.Generator, p: Params, infra: Infra, shared: Shared, country: np.ndarray, group: np.ndarray,
         acct: np.ndarray, sess: np.ndarray, ns: int, ne: int) -> np.ndarray:
    n = len(country)
    mode = np.full(n, p.ip, dtype=object)
    if p.ip == "mixed":
        mode = idn.choose_keys(rng, {"cloud": 0.25, "proxy_dc": 0.25, "proxy_resi": 0.35, "home": 0.15}, n)
    home = home_ips(rng, country)
    cloud_blocks = nb.of_kind("cloud")
    cb = rng.integers(0, len(cloud_blocks), n)
    cloud = [nb.sample_ips(rng, [cloud_blocks[b]], int(rng.integers(1, 5))) for b in cb.tolist()]
    gnat = home_ips(rng, country[np.searchsorted(group, np.arange(int(group.max()) + 1))]) if n else np.empty(0, dtype=object)
    out = home[acct].copy() if ne else np.empty(0, dtype=object)
    m_ev = mode[acct] if ne else np.empty(0, dtype=object)
    r_s = rng.random(ns)
    r_e = r_s[sess] if ns else np.zeros(0)
    sel = m_ev == "nat"
    out[sel] = gnat[group[acct[sel]]]
    sel = m_ev == "cloud"
    if sel.any():
        out[sel] = obj_array([cloud[a][int(k) % len(cloud[a])] for a, k in zip(acct[sel].tolist(), rng.integers(0, 8, int(sel.sum())).tolist())])
    sel = (m_ev == "dev") & (r_e < 0.3)
    if sel.any():
        out[sel] = obj_array([cloud[a][0] for a in acct[sel].tolist()])
    for kind, pool in (("proxy_resi", infra.proxy_resi), ("proxy_dc", infra.proxy_dc)):
        sel = m_ev == kind
        if sel.any():
            out[sel] = sticky(rng, pool, p.ip_sticky, acct, sess, ns, ne)[sel]
    human = np.isin(m_ev, ["home", "dev", "nat"])
    vpn_user = rng.random(n) < p.vpn_share
    sel = human & vpn_user[acct] & (r_e > 0.3)
    if sel.any():
        out[sel] = pick_from(rng, shared.vpn_exits, ns)[sess[sel]]
    mob = human & ~sel & (rng.random(ns)[sess] < p.mobile_share) if ns else np.zeros(0, bool)
    if mob.any():
        cs = country[acct[mob]]
        out[mob] = obj_array([shared.mobile[c][int(k) % len(shared.mobile[c])] for c, k in
                         zip(cs.tolist(), rng.integers(0, 1 << 30, ns)[sess[mob]].tolist())])
    return out


def assign_user_agents(rng: np.random.Generator, p: Params, infra: Infra, acct: np.ndarray, sess: np.ndarray, ns: int, n: int) -> np.ndarray:
    """Client strings: each account has its own client kind (a mix per persona) and 1-2 versions."""
    kinds = idn.choose_keys(rng, p.ua, n) if isinstance(p.ua, dict) else np.full(n, p.ua, dtype=object)
    rot = pick_from(rng, infra.ua_pool, ns) if ns else np.empty(0, dtype=object)
    own = [idn.user_agents(rng, k, 2, infra.ua_word if k == "pipeline" else None) if k != "rotating" else []
           for k in kinds.tolist()]
    alt = rng.random(ns) < 0.25
    rot_acct = pick_from(rng, infra.ua_pool, n)  # a bot instance keeps its client string, sometimes rotates
    rot = np.where(rng.random(ns) < 0.2, rot, rot_acct[acct[np.searchsorted(sess, np.arange(ns))]] if ns else rot)
    return obj_array([own[a][1 if alt[s] else 0] if own[a] else rot[s] for a, s in zip(acct.tolist(), sess.tolist())])
