"""Shared infrastructure: what one operator reuses everywhere, and world-wide shared pools.

An actor's :class:`Infra` is drawn from the actor's own random stream, not a provider's, so
an actor attacking three providers reuses the same proxy addresses, card fingerprints,
email scheme, prompt wrappers and elicitation phrasing on each. Benign groups get an Infra
of their own (a pipeline's wrapper, a company's domain). :class:`Shared` holds pools that
unrelated users share by accident of the internet: VPN exits and mobile CGNAT addresses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from distillguard.simulate import identity as idn
from distillguard.simulate import netblocks as nb
from distillguard.simulate import textgen
from distillguard.simulate.scenario import Params, sample


def py_rng(rng: np.random.Generator) -> random.Random:
    """A stdlib PRNG seeded from a numpy stream, for cheap per-string choices."""
    return random.Random(int(rng.integers(0, 2**63)))


def obj_array(values: list[Any] | np.ndarray) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = list(values)
    return a


@dataclass
class Infra:
    """Things one operator reuses everywhere: addresses, cards, email scheme, phrasing."""

    wrappers: list[str]
    elicit: list[str]
    elicit_suffix: float
    system: dict[str, str]
    proxy_resi: list[str]
    proxy_dc: list[str]
    cards: list[str]
    email_pattern: tuple[str, str]
    org_domain: str
    ua_word: str
    ua_pool: list[str]
    tz: float


def make_infra(rng: np.random.Generator, p: Params) -> Infra:
    """Draw an operator's shared infrastructure (actor stream or a benign group's own)."""
    n_el = max(1, int(round(sample(rng, p.elicitation_variants))))
    el = rng.choice(len(textgen.ELICITATIONS), size=min(n_el, len(textgen.ELICITATIONS)), replace=False)
    resi_n = max(5, int(sample(rng, p.proxy_pool)))
    countries = rng.choice(nb.COUNTRIES, size=int(rng.integers(3, 12)), replace=False).tolist()
    resi_blocks = [b for b in nb.of_kind("residential") if b.country in countries]
    hosting = nb.of_kind("hosting")
    tr = py_rng(rng)
    return Infra(
        wrappers=[textgen.make_wrapper(tr) for _ in range(int(rng.integers(1, 4)))],
        elicit=[textgen.ELICITATIONS[i] for i in sorted(el.tolist())],
        elicit_suffix=float(rng.uniform(0.3, 1.0)),
        system={k: textgen.system_prompt(tr, k) for k in sorted(textgen.SYSTEM_PROMPTS)},
        proxy_resi=nb.sample_ips(rng, resi_blocks, resi_n - resi_n // 4)  # residential proxy networks also
        + nb.sample_ips(rng, [b for b in nb.of_kind("mobile") if b.country in countries] or nb.of_kind("mobile"),
                        resi_n // 4),  # resell mobile (CGNAT) exits
        proxy_dc=nb.dense_subnets(rng, [hosting[int(i)] for i in rng.integers(0, len(hosting), 3)],
                                  int(rng.integers(1, 5)), int(rng.integers(8, 60))),
        cards=idn.fingerprints(rng, max(1, int(sample(rng, p.card_pool)))),
        email_pattern=idn.pattern_for(rng),
        org_domain=idn.corporate_domain(rng),
        ua_word=idn.WORDS[int(rng.integers(0, len(idn.WORDS)))],
        ua_pool=idn.user_agents(rng, "rotating", int(rng.integers(8, 40))),
        tz=float(rng.choice([-8, -5, 0, 1, 3, 5.5, 7, 8, 9])),
    )


@dataclass
class Shared:
    """World-wide pools that many unrelated users share (VPN exits, mobile CGNAT addresses)."""

    vpn_exits: list[str]
    mobile: dict[str, list[str]]

    @staticmethod
    def build(rng: np.random.Generator) -> "Shared":
        vpn = nb.dense_subnets(rng, nb.of_kind("vpn"), 40, 12)
        mob = {c: nb.sample_ips(rng, nb.of_kind("mobile", c), 400) for c in nb.COUNTRIES}
        return Shared(vpn, mob)
