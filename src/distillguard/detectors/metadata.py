"""Signal 8 — account metadata: a weak prior about how cheap and disposable an identity is.

Distillation at scale needs many cheap accounts: brand-new, unverified, disposable or
patterned emails, one payment card behind several accounts, traffic through rotating
proxy or datacenter addresses. Each cue also fits some honest customers (a startup's
new account, an agency paying for several client accounts, a classroom behind one NAT),
so the score is capped (``max_score``) and weighted low in decide/: metadata can raise
an account that other signals already point at, and never flags a customer alone.
No GeoIP data ships with distillguard, so country/IP mismatch is approximated by the
signup address never being seen again in traffic (a different network from signup).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from distillguard.detectors.base import Detector
from distillguard.features.account import clip01, noisy_or

DISPOSABLE_DOMAINS = frozenset({
    "mailinator.com", "guerrillamail.com", "guerrillamail.net", "sharklasers.com", "10minutemail.com",
    "temp-mail.org", "tempmail.com", "tempmail.net", "yopmail.com", "trashmail.com", "getnada.com",
    "dispostable.com", "maildrop.cc", "throwawaymail.com", "fakeinbox.com", "mohmal.com", "emailondeck.com",
    "mintemail.com", "spamgourmet.com", "tempr.email", "burnermail.io", "mailnesia.com", "mytemp.email",
    "tmpmail.org", "moakt.com", "emailfake.com", "discard.email", "33mail.com", "inboxkitten.com",
})
"""A small public list of throwaway-mail domains (extend with ``params.extra_disposable``)."""

_PATTERNED = re.compile(r"^(?:[a-z]{2,12}[._-]?[0-9]{3,}|[a-z0-9]{12,}|[a-z]+\+[a-z0-9]+)$")


def email_cue(email: str | None, extra: frozenset[str] = frozenset()) -> tuple[float, str]:
    """(strength, words) for an email: disposable domain, generated-looking local part, or none."""
    if not email or "@" not in email:
        return 0.0, ""
    local, _, domain = email.lower().rpartition("@")
    if domain in DISPOSABLE_DOMAINS or domain in extra:
        return 0.8, f"disposable email domain {domain}"
    digits = sum(ch.isdigit() for ch in local)
    if _PATTERNED.match(local) and (digits >= 3 or "+" in local):
        return 0.4, f"generated-looking email {local[:3]}…@{domain}"
    return 0.0, ""


class MetadataDetector(Detector):
    needs_accounts: ClassVar[bool] = True
    optional_columns: ClassVar[tuple[str, ...]] = ("ip", "email", "payment_fingerprint", "created_at", "verified", "country")
    name: ClassVar[str] = "metadata"
    version: ClassVar[str] = "1"
    required_columns: ClassVar[tuple[str, ...]] = ("request_id", "ts", "account_id")
    description: ClassVar[str] = "New/unverified account, throwaway email, shared card, proxy/datacenter addresses."
    group: ClassVar[str] = "identity"
    default_weight: ClassVar[float] = 0.4
    live: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ('n', 'first_ts', 'created_at', 'verified', 'email', 'accounts_on_card', 'n_subnets', 'n_ips', 'datacenter_share', 'ex_any')

    def __init__(self, *, max_score: float = 0.7, card_accounts: int = 3, subnets_rotation: int = 10,
                 established_days: float = 30.0, established_card: float = 0.3,
                 extra_disposable: list[str] | None = None) -> None:
        self.max_score = max_score
        self.established_days = established_days
        self.established_card = established_card
        self.card_accounts = card_accounts
        self.subnets_rotation = subnets_rotation
        self.extra_disposable = extra_disposable

    def score_features(self, r: Mapping[str, Any], explain: bool = True) -> dict[str, Any]:
        extra = frozenset(d.lower() for d in (self.extra_disposable or []))
        parts: list[float] = []
        words: list[str] = []
        age = None
        if r["created_at"] is not None:
            age = (r["first_ts"] - r["created_at"]).total_seconds() / 86400.0
            s_age = 0.5 if age < 2 else 0.3 if age < 7 else 0.1 if age < 30 else 0.0
            parts.append(s_age)
            if s_age:
                words.append(f"account {max(age, 0):.1f} days old at first request")
        if r["verified"] is False:
            parts.append(0.3)
            words.append("identity not verified")
        s_mail, w_mail = email_cue(r["email"], extra)
        parts.append(s_mail)
        if w_mail:
            words.append(w_mail)
        card = int(r["accounts_on_card"] or 0)
        if card >= self.card_accounts:
            # A company or agency paying for its verified, long-standing seats is a customer;
            # one card behind fresh, unverified or throwaway identities is a hydra's cost saving.
            established = bool(r["verified"]) or (age is not None and age >= self.established_days)
            cheap = not established or s_mail > 0
            parts.append(clip01((card - self.card_accounts + 1) / 5.0) * (1.0 if cheap else self.established_card))
            words.append(f"payment card shared by {card} accounts"
                         + ("" if cheap else " (established identity: weak cue)"))
        subnets, n = int(r["n_subnets"] or 0), int(r["n"])
        if subnets >= self.subnets_rotation and subnets / max(n, 1) >= 0.2:
            parts.append(0.6)
            words.append(f"{subnets:,} different /24 networks over {n:,} requests (rotating proxies)")
        dc = float(r["datacenter_share"] or 0.0)
        if dc >= 0.5:
            parts.append(0.3)
            words.append(f"{dc:.0%} of requests from large-cloud address blocks")
        score = self.max_score * noisy_or(parts)
        return {"account_id": r["account_id"], "score": score, "value": score,
                     "detail": "; ".join(words) if words else "no metadata cues",
                     "examples": r["ex_any"] or []}
