"""The decision policy: scores and memberships in, one action out. Scoring is not deciding.

The engine says how risky an account looks; this module, driven by a TOML file an
operator owns, says what to do about it (river's ThresholdFilter idea, Presidio's
threshold step). It is reloadable without a restart: :class:`PolicyHolder` re-reads the
file when its mtime changes (checked at most every ``check_s`` seconds on the request
path) or on ``POST /v1/admin/reload``. A bad edit never takes the service down: the old
policy stays in force and the error is reported.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from distillguard.errors import ConfigError
from distillguard.protect.policy import ProtectPolicy

Action = Literal["allow", "challenge", "throttle", "degrade", "block"]
ACTIONS: tuple[str, ...] = ("allow", "challenge", "throttle", "degrade", "block")
"""Mildest first, in the order the guard escalates: verify first (cheap when wrong), then slow
down, then keep answering with degraded outputs (``degrade``: src/distillguard/protect/), then
stop. Every action is undone by analyst feedback (journalled)."""
RANK = {a: i for i, a in enumerate(ACTIONS)}


def worst(a: str, b: str) -> str:
    """The more restrictive of two actions."""
    return a if RANK[a] >= RANK[b] else b


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_M):
    challenge: float = Field(0.75, ge=0, le=1)
    throttle: float = Field(0.8, ge=0, le=1)
    block: float = Field(0.95, ge=0, le=1)
    min_events: int = Field(5, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if not self.challenge <= self.throttle <= self.block:
            raise ValueError("thresholds must satisfy challenge <= throttle <= block")
        return self


class CampaignRule(_M):
    min_score: float = Field(0.7, ge=0, le=1)
    action: Action = "block"
    join_action: Action = "challenge"
    confirmed_join_action: Action = "block"
    """A new account tied to a campaign an analyst confirmed."""
    member_floor: float = Field(0.3, ge=0, le=1)
    """A member's own evidence (live score, or its batch score if the scan flagged it) needed
    before the campaign action applies: batch campaigns can sweep in customers who share a
    classroom network or a popular template, and association alone must not block them."""


class SeedRule(_M):
    act_on: list[str] = Field(default_factory=lambda: ["flag"])
    """Batch verdicts whose score counts in full: the scan's own calibrated decision."""
    watch_cap: float = Field(0.5, ge=0, le=1)
    """Other seeded scores are capped here: a 'watch' account adds a reason, not an action."""


class IntelRule(_M):
    corroborated_orgs: float = Field(2.0, gt=0)
    corroborated_action: Action = "throttle"
    single_boost: float = Field(0.1, ge=0, le=1)


class FeedbackRule(_M):
    confirmed_action: Action = "block"


class HoldRule(_M):
    seconds: float = Field(3600.0, ge=0)


class AllowRule(_M):
    accounts: list[str] = Field(default_factory=list)
    cap: Action = "allow"


class TierRule(_M):
    normal_per_hour: float = Field(120.0, gt=0)
    max_per_minute: float = Field(300.0, gt=0)


class Policy(_M):
    thresholds: Thresholds = Field(default_factory=Thresholds)
    campaign: CampaignRule = Field(default_factory=CampaignRule)
    seed: SeedRule = Field(default_factory=SeedRule)
    intel: IntelRule = Field(default_factory=IntelRule)
    feedback: FeedbackRule = Field(default_factory=FeedbackRule)
    hold: HoldRule = Field(default_factory=HoldRule)
    allow: AllowRule = Field(default_factory=AllowRule)
    tiers: dict[str, TierRule] = Field(default_factory=dict)
    protect: ProtectPolicy = Field(default_factory=ProtectPolicy)  # what each action does to outputs

    def tier(self, name: str | None) -> TierRule:
        return self.tiers.get(name or "default") or self.tiers.get("default") or TierRule()

    def allowed(self) -> frozenset[str]:
        return frozenset(self.allow.accounts)


@dataclass(frozen=True)
class Inputs:
    """What the policy looks at for one event (all already computed)."""

    account_id: str
    score: float
    n: int
    tier: str | None
    per_minute: float
    campaign_id: str | None = None
    campaign_score: float = 0.0
    campaign_joined: bool = False
    intel_corroboration: float = 0.0
    override: str | None = None
    hold_action: str = "allow"
    hold_active: bool = False
    own_score: float = 1.0
    """The account's own evidence, apart from campaign membership (see ``member_floor``)."""
    campaign_confirmed: bool = False


def decide(p: Policy, x: Inputs, allowed: frozenset[str] = frozenset()) -> tuple[str, list[str]]:
    """Return (action, reasons). Pure; order: overrides, evidence, holds, allow-list cap."""
    if x.override == "false_positive":
        return "allow", ["analyst feedback: false positive (overrides all evidence)"]
    if x.override == "confirmed":
        return p.feedback.confirmed_action, ["analyst feedback: confirmed distillation"]
    action, reasons = "allow", []
    t = p.thresholds
    if x.n >= t.min_events or x.campaign_joined or x.intel_corroboration:
        # A tied account's inherited score does not escalate by itself: it is verified first.
        score = min(x.score, x.own_score) if x.campaign_joined else x.score
        for name in ("block", "throttle", "challenge"):
            if score >= getattr(t, name):
                action = name
                reasons.append(f"score {score:.2f} >= {name} threshold {getattr(t, name):.2f}")
                break
    if x.campaign_joined:
        # Tied at first sight (rare identity facts shared with flagged accounts): verify first,
        # whatever its own traffic says yet; block once an analyst confirmed the campaign.
        act = p.campaign.confirmed_join_action if x.campaign_confirmed else p.campaign.join_action
        action = worst(action, act)
        reasons.append(f"tied to {'confirmed ' if x.campaign_confirmed else ''}campaign {x.campaign_id} "
                       "by rare identity facts shared with its flagged accounts")
    elif x.campaign_id and x.own_score < p.campaign.member_floor:
        reasons.append(f"campaign {x.campaign_id} member, own evidence {x.own_score:.2f} below "
                       f"{p.campaign.member_floor:.2f}: watched, not acted on")
    elif x.campaign_id and x.campaign_score >= p.campaign.min_score:
        action = worst(action, p.campaign.action)
        reasons.append(f"member of campaign {x.campaign_id} (campaign score {x.campaign_score:.2f})")
    if x.intel_corroboration >= p.intel.corroborated_orgs:
        action = worst(action, p.intel.corroborated_action)
        reasons.append(f"intel indicator corroborated by {x.intel_corroboration:.1f} member orgs")
    tier = p.tier(x.tier)
    if x.per_minute > tier.max_per_minute:
        action = worst(action, "throttle")
        reasons.append(f"{x.per_minute:.0f} requests/min exceeds tier {x.tier or 'default'} limit {tier.max_per_minute:.0f}")
    if x.hold_active and RANK[x.hold_action] > RANK[action]:
        action = x.hold_action
        reasons.append(f"holding earlier decision {x.hold_action}")
    if x.account_id in allowed and RANK[action] > RANK[p.allow.cap]:
        reasons.append(f"allow-listed customer: {action} capped at {p.allow.cap}")
        action = p.allow.cap
    return action, reasons


def load_policy(path: str | Path | None) -> Policy:
    """Parse and validate a policy TOML (None → the packaged default)."""
    try:
        if path is None:
            text = resources.files("distillguard.service").joinpath("default_policy.toml").read_text()
            src = "default_policy.toml"
        else:
            p = Path(path)
            if not p.exists():
                raise ConfigError("policy file not found", source=str(p))
            text, src = p.read_text(), str(p)
        return Policy.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", source=str(path)) from e
    except ValidationError as e:
        raise ConfigError(str(e), source=str(path) if path else src) from e


class PolicyHolder:
    """The policy in force, swapped atomically when the file changes."""

    def __init__(self, path: str | Path | None, check_s: float = 1.0) -> None:
        self.path = Path(path) if path else None
        self.check_s = check_s
        self.policy = load_policy(self.path)
        self.allowed = self.policy.allowed()
        self.version = 1
        self.last_error: str | None = None
        self._mtime = self._stat()
        self._next = time.monotonic() + check_s

    def _stat(self) -> float:
        try:
            return os.stat(self.path).st_mtime_ns if self.path else 0.0
        except OSError:
            return 0.0

    def reload(self) -> bool:
        """Re-read the file now. Returns True if a new policy is in force."""
        self._mtime = self._stat()
        try:
            pol = load_policy(self.path)
        except ConfigError as e:
            self.last_error = str(e)
            return False
        self.policy, self.allowed, self.last_error = pol, pol.allowed(), None
        self.version += 1
        return True

    def maybe_reload(self) -> None:
        """Cheap on the hot path: one monotonic clock read, a stat once per ``check_s``."""
        now = time.monotonic()
        if now < self._next or self.path is None:
            return
        self._next = now + self.check_s
        if self._stat() != self._mtime:
            self.reload()
