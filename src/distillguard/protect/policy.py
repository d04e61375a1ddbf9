"""The ``[protect]`` section of the guard's policy file: what each action does to outputs.

```toml
[protect]
key_file = "/etc/distillguard/protect.key"   # or env DISTILLGUARD_PROTECT_KEY; >= 16 bytes
registry = "canaries.db"                     # default: <service.state_path>.canaries.db
canary_rate = 0.05                           # share of prompts that are canary triggers
[protect.actions.allow]
watermark = true
[protect.actions.throttle]
watermark = true
canary = true
degrade = "summary"
```
Actions missing from ``[protect.actions]`` take the defaults below (``challenge``, the guard's
mildest restriction, keeps the full answer but carries canaries). ``block`` should never
reach ``/v1/protect`` (the request was refused), but has a rule so a gateway that forwards
it anyway never gets a full answer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY_ENV = "DISTILLGUARD_PROTECT_KEY"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionProtect(_M):
    watermark: bool = True
    canary: bool = False
    degrade: Literal["none", "summary", "short", "final"] = "none"


def _defaults() -> dict[str, ActionProtect]:
    return {
        "allow": ActionProtect(),
        "throttle": ActionProtect(canary=True, degrade="summary"),
        "degrade": ActionProtect(canary=True, degrade="final"),
        "challenge": ActionProtect(canary=True),  # mildest restriction: verify, keep the full answer
        "block": ActionProtect(canary=True, degrade="final"),
    }


class ProtectPolicy(_M):
    enabled: bool = True
    key_file: str | None = None
    """File holding the provider's protect secret (raw bytes, >= 16). Falls back to the
    DISTILLGUARD_PROTECT_KEY environment variable. Keep it: without it no mark can be proved."""
    registry: str | None = None
    """SQLite file of issued canaries; None: beside the guard's state (``:memory:`` keeps none)."""
    account_share: float = Field(0.5, gt=0, lt=1)
    """Share of watermark contexts that carry the per-account mark (the rest: the provider mark)."""
    canary_rate: float = Field(0.05, ge=0, le=1)
    summary_sentences: int = Field(1, ge=0)
    short_words: int = Field(120, ge=5)
    actions: dict[str, ActionProtect] = Field(default_factory=_defaults)

    @field_validator("actions")
    @classmethod
    def _fill(cls, v: dict[str, ActionProtect]) -> dict[str, ActionProtect]:
        from distillguard.service.policy import ACTIONS

        bad = sorted(set(v) - set(ACTIONS))
        if bad:
            raise ValueError(f"unknown action(s) {bad}; expected {list(ACTIONS)}")
        return {**_defaults(), **v}

    def rule(self, action: str) -> ActionProtect:
        return self.actions.get(action) or ActionProtect()


def load_secret(key_file: str | None) -> bytes | None:
    """The protect secret from ``key_file`` or the environment; None when neither is set."""
    if key_file:
        p = Path(key_file)
        if not p.exists():
            raise FileNotFoundError(f"protect key file not found: {p}")
        data = p.read_bytes().strip()
    else:
        env = os.environ.get(KEY_ENV)
        if not env:
            return None
        data = env.encode()
    if len(data) < 16:
        raise ValueError("the protect secret must be at least 16 bytes")
    return data
