"""Scenario files: what world to simulate, as data a user can write and version.

A scenario is TOML with four parts::

    [world]      name, start (RFC 3339), days
    [[providers]] name, account_prefix, models, reasoning_models, responses
    [sources]    family = ["category/glob*", ...]   (corpus mode only)
    [[benign]]   persona = "casual_chat", accounts = 300, ...   (any Params key overrides)
    [[campaigns]] type = "hydra", id = "c1", actor = "a1", providers = [...], ...

Each benign persona and campaign type has a preset (simulate/personas.py) and any key of
:class:`Params` may override it. A value written as ``[lo, hi]`` is a range: it is drawn
once per campaign (attack parameters vary between campaigns, so no constant identifies
them) and, for ``rate``, once per account. Unknown keys raise :class:`ConfigError` naming
the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from distillguard.config import parse_toml
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from distillguard.errors import ConfigError

Range = Union[float, list[float]]
BUILTIN = ("small", "default", "large", "collective")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Params(_M):
    """Every behavioural knob of a persona or campaign (see docs/simulator.md)."""

    label: str = "benign"
    accounts: Range = 10.0
    rate: Range = [1.0, 5.0]  # requests per active day per account (log-uniform per account)
    requests: Range | None = None  # campaigns: total requests on one provider (overrides rate)
    start_day: Range = 0.0
    duration_days: Range | None = None
    account_start_spread: Range = 0.0  # days over which accounts of the group start
    late_join: Range = 0.1  # share of accounts that sign up and start mid-world
    account_active_days: Range | None = None
    profile: str | list[str] = "human"  # human | work | school | flat | evening; a list = pick one per group
    weekend: Range = 0.7
    session_mean: Range = 4.0
    gap_median_s: Range = 40.0
    gap_sigma: Range = 0.9
    families: dict[str, float] = Field(default_factory=lambda: {"chat": 1.0})
    sources: list[str] | None = None
    per_session_family: bool = True
    shared_prompts: Range = 0.0  # share of prompts drawn from a small set common to the account's group (homework)
    benchmark: bool = False  # corpus mode: walk one file's records in a shuffled order (a benchmark run), not random draws
    multi_turn: Range = 0.0
    elicitation: Range = 0.0
    elicitation_variants: Range = 1.0
    template_share: Range = 0.0
    templated_single: bool = False
    paraphrase: Range = 0.3
    system: dict[str, float] = Field(default_factory=dict)
    reasoning_model_share: Range = 0.1
    ip: str = "home"  # home | dev | nat | cloud | proxy_resi | proxy_dc | mixed
    ip_sticky: str = "session"  # request | session | account (proxy rotation)
    proxy_pool: Range = 1000.0
    vpn_share: Range = 0.05
    mobile_share: Range = 0.2
    ua: str | dict[str, float] = "browser"  # browser | sdk | script | pipeline | rotating, or a {kind: weight} mix per account
    habit_spread: float = 4.0  # per-account Beta concentration of elicitation / reasoning-model habits (lower = more varied)
    card: str = "own"  # own | group | pool | prepaid
    card_pool: Range = 10.0
    free_share: Range = 0.5
    email: dict[str, float] = Field(default_factory=lambda: {"consumer": 1.0})
    signup: dict[str, float] = Field(default_factory=lambda: {"old": 0.5, "recent": 0.3, "fresh": 0.2})
    countries: dict[str, float] | None = None
    tier: dict[str, float] = Field(default_factory=lambda: {"free": 0.6, "build": 0.4})
    verified: Range = 0.3
    group_size: Range = 20.0
    ban_rate: Range = 0.0
    harvest_share: Range = 0.0  # reseller: share of traffic from the distilling end user
    harvest_families: dict[str, float] = Field(default_factory=lambda: {"reasoning": 0.5, "instructions": 0.5})
    completion_scale: float = 1.0
    multi_home: float = 0.0  # benign: share of identities with accounts at several providers

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if v not in ("benign", "distillation"):
            raise ValueError("label must be benign or distillation")
        return v


class ProviderSpec(_M):
    name: str
    account_prefix: str = "acct_"
    models: list[str] = Field(default_factory=lambda: ["chat-small", "chat-large"])
    reasoning_models: list[str] = Field(default_factory=lambda: ["reasoner-1"])
    responses: bool = True  # log response text (a short placeholder) or leave it null
    conversation_ids: bool = True  # some providers do not log conversation threads at all


class WorldSpec(_M):
    name: str = "custom"
    start: datetime = datetime(2026, 3, 2, tzinfo=timezone.utc)
    days: float = Field(14.0, gt=0, le=400)
    description: str = ""

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)


class GroupSpec(BaseModel):
    """One [[benign]] or [[campaigns]] entry: structure plus Params overrides."""

    model_config = ConfigDict(extra="allow")
    persona: str | None = None  # benign preset
    type: str | None = None  # campaign preset
    name: str | None = None
    id: str | None = None
    actor: str | None = None
    providers: list[str] | None = None
    stagger_days: Range = 0.0  # campaigns: delay between successive providers

    def overrides(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Scenario(_M):
    world: WorldSpec = Field(default_factory=WorldSpec)
    providers: list[ProviderSpec]
    sources: dict[str, list[str]] = Field(default_factory=dict)
    benign: list[GroupSpec] = Field(default_factory=list)
    campaigns: list[GroupSpec] = Field(default_factory=list)
    scale: float = Field(1.0, gt=0)


def sample(rng: np.random.Generator, v: Range | None, *, log: bool = False) -> float:
    """A value from a scalar or a ``[lo, hi]`` range (log-uniform when ``log``)."""
    if v is None:
        raise ValueError("no value")
    if isinstance(v, list):
        if len(v) != 2:
            raise ConfigError(f"range must be [lo, hi], got {v}")
        lo, hi = float(v[0]), float(v[1])
        if log and lo > 0:
            return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)))))
        return float(rng.uniform(lo, max(hi, lo)))
    return float(v)


def resolve_params(preset: dict[str, Any], overrides: dict[str, Any], where: str) -> Params:
    """Preset + overrides → validated Params; an unknown key names itself in the error."""
    unknown = sorted(set(overrides) - set(Params.model_fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}", source=where)
    try:
        return Params.model_validate({**preset, **overrides})
    except ValidationError as e:
        bad = ", ".join(".".join(str(x) for x in err["loc"]) + f" ({err['msg']})" for err in e.errors())
        raise ConfigError(f"invalid value for {bad}", source=where) from e


def _check(sc: Scenario, where: str) -> Scenario:
    from distillguard.simulate.personas import BENIGN, CAMPAIGNS

    names = [p.name for p in sc.providers]
    if not names or len(set(names)) != len(names):
        raise ConfigError("providers must be a non-empty list of unique names", source=f"{where}: providers")
    for kind, groups, presets, key in (("benign", sc.benign, BENIGN, "persona"), ("campaigns", sc.campaigns, CAMPAIGNS, "type")):
        for i, g in enumerate(groups):
            loc = f"{where}: {kind}[{i}]"
            val = getattr(g, key)
            if val not in presets:
                raise ConfigError(f"{key} must be one of {sorted(presets)}, got {val!r}", source=f"{loc}.{key}")
            for p in g.providers or []:
                if p not in names:
                    raise ConfigError(f"unknown provider {p!r} (have {names})", source=f"{loc}.providers")
            resolve_params(presets[val], g.overrides(), loc)
    return sc


def load_scenario(spec: str | Path, where: str | None = None) -> Scenario:
    """Load a built-in scenario by name or a TOML file by path."""
    s = str(spec)
    if s in BUILTIN:
        text = resources.files("distillguard.simulate.scenarios").joinpath(f"{s}.toml").read_text()
        where = where or f"scenario {s}"
    else:
        p = Path(s)
        if not p.exists():
            raise ConfigError(f"scenario not found (built-in: {', '.join(BUILTIN)})", source=s)
        text = p.read_text()
        where = where or str(p)
    return scenario_from_dict(parse_toml(text, where), where)


def scenario_from_dict(doc: dict[str, Any], where: str = "scenario") -> Scenario:
    """Validate a scenario document (already parsed)."""
    try:
        sc = Scenario.model_validate(doc)
    except ValidationError as e:
        bad = "; ".join(".".join(str(x) for x in err["loc"]) + f": {err['msg']}" for err in e.errors())
        raise ConfigError(bad, source=where) from e
    return _check(sc, where)


def dump_scenario(sc: Scenario) -> str:
    """The resolved scenario as TOML (written next to the world it produced)."""
    doc = sc.model_dump(mode="json", exclude_none=True)
    doc["world"]["start"] = sc.world.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return tomli_w.dumps(doc)
