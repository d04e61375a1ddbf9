"""The library API of output protection: one call per response, driven by the account's action.

Order: degrade (what the action allows through) → canary (suspected accounts, trigger
prompts) → watermark (every account, so any leak can be traced). ``POST /v1/protect``
(src/distillguard/service/protect_api.py) is a thin adapter over :meth:`Protector.protect`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from distillguard.protect.canary import Canaries, CanaryRegistry
from distillguard.protect.degrade import degrade
from distillguard.protect.policy import ProtectPolicy
from distillguard.protect.watermark import Watermark


@dataclass
class Protected:
    request_id: str
    account_id: str
    action: str
    response: str
    reasoning: str | None
    degrade: str = "none"
    canary: bool = False
    watermark_sites: int = 0
    applied: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Protector:
    def __init__(self, secret: bytes, policy: ProtectPolicy | None = None, registry: CanaryRegistry | None = None) -> None:
        self.policy = policy or ProtectPolicy()
        self.watermark = Watermark(secret, self.policy.account_share)
        self.canaries = Canaries(secret, self.policy.canary_rate)
        self.registry = registry

    def set_policy(self, policy: ProtectPolicy) -> None:
        """Take a reloaded policy (the key stays; the account share and rates follow the file)."""
        if policy.account_share != self.policy.account_share:
            self.watermark.set_account_share(policy.account_share)
        self.canaries.rate = policy.canary_rate
        self.policy = policy

    def protect(self, account_id: str, action: str, request_id: str, prompt: str, response: str,
                reasoning: str | None = None, ts: float | None = None) -> Protected:
        pol = self.policy
        rule = pol.rule(action)
        out = Protected(request_id, account_id, action, response, reasoning)
        if not pol.enabled:
            return out
        if rule.degrade != "none":
            d = degrade(response, reasoning, rule.degrade, keep=pol.summary_sentences, max_words=pol.short_words)
            out.response, out.reasoning, out.degrade = d.response, d.reasoning, rule.degrade
            out.applied.append(f"degrade:{rule.degrade}")
        if rule.canary and self.canaries.is_trigger(prompt):
            c = self.canaries.canary(account_id, prompt)
            out.response = self.canaries.insert(out.response, c)
            out.canary = True
            out.applied.append("canary")
            if self.registry is not None:
                self.registry.record(account_id, request_id, self.canaries.prompt_hash(prompt),
                                     self.canaries.hash(c.text), time.time() if ts is None else ts)
        if rule.watermark:
            m = self.watermark.apply(out.response, account_id)
            out.response, out.watermark_sites = m.text, m.sites
            if out.reasoning:
                r = self.watermark.apply(out.reasoning, account_id)
                out.reasoning = r.text
                out.watermark_sites += r.sites
            out.applied.append("watermark")
        return out
