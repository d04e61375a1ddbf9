"""Plain words for the names the findings use, so a reviewer never has to read `gate 1.00`.

Account signals come with a description from their detector's metadata; campaign-level
strengths (``member_evidence``, ``gate``, ``signal_<name>`` …) are named here, next to what
a value of 0 or 1 means. ATLAS ids get their technique and tactic names from
``distillguard.atlas`` (checked against ATLAS.yaml by the tests).
"""

from __future__ import annotations

from functools import lru_cache

from distillguard.atlas import MITIGATIONS, TECHNIQUES

CAMPAIGN_SIGNALS: dict[str, str] = {
    "member_score_mean": "members' own evidence, on average (each account scored alone)",
    "member_evidence": "members' own evidence, mean blended with the strongest quarter",
    "template_concentration": "share of the members' prompts that fill templates they share",
    "synchronisation": "how much the members act at the same minutes (lockstep scripts)",
    "cheap_identities": "share of members with throw-away identities (disposable e-mail, unverified and used at once)",
    "identity_ties": "share of members tied by a card, an e-mail pattern, a disposable domain or a sign-up burst",
    "network_ties": "share of members tied by an IP address, subnet or sign-up subnet",
    "client_ties": "share of members tied by a rare client string (scraper tooling)",
    "gate": "how far the behaviour looks like harvesting: sharing infrastructure counts only in proportion (0 = ordinary traffic, 1 = at the watch level)",
    "size": "how many accounts the campaign has",
}

TACTICS: dict[str, str] = {
    "AML.TA0000": "AI Model Access",
    "AML.TA0001": "AI Attack Staging",
    "AML.TA0003": "Resource Development",
    "AML.TA0010": "Exfiltration",
    "AML.TA0011": "Impact",
}
"""ATLAS tactic names for the tactics of :data:`distillguard.atlas.TECHNIQUES` (ATLAS 5.6)."""

TIES = {"identity": "identities (cards, e-mails)", "network": "networks (IPs, subnets)",
        "client": "a rare client string", "template": "prompt templates", "sync": "synchronised activity"}
"""What most ties a campaign together (the queue's campaign type), in a few words."""

FACT_NAMES = {"card": "payment card", "email_domain": "e-mail domain", "signup_net": "sign-up network",
              "network": "request network", "client": "client string"}


@lru_cache(maxsize=1)
def _detector_descriptions() -> dict[str, str]:
    try:
        from distillguard.detectors import registry

        return {n: m.description for n, m in registry.metadata("all").items() if m.description}
    except Exception:  # a broken plugin must not take the console down: fall back to bare names
        return {}


def signal_words(name: str) -> str:
    """What a signal (account-level, or a campaign strength) measures, in a sentence."""
    if name in CAMPAIGN_SIGNALS:
        return CAMPAIGN_SIGNALS[name]
    base = name[len("signal_"):] if name.startswith("signal_") else name
    d = _detector_descriptions().get(base)
    if d and name.startswith("signal_"):
        return f"members' mean score on: {d[0].lower()}{d[1:]}"
    if name == "campaign":
        return "the account belongs to a campaign and inherits part of its risk"
    return d or name.replace("_", " ")


def signal_label(name: str) -> str:
    """A short human label: ``signal_window_test`` → ``window test (members)``."""
    if name.startswith("signal_"):
        return name[len("signal_"):].replace("_", " ") + " (members)"
    return name.replace("_", " ")


def technique(tid: str) -> dict[str, str]:
    """Id, name, tactic (id and name) and ATLAS link of a technique or mitigation id."""
    t = TECHNIQUES.get(tid) or MITIGATIONS.get(tid)
    if t is None:
        return {"id": tid, "name": "(not in distillguard's ATLAS table)", "tactic": "", "url": ""}
    return {"id": t.id, "name": t.name, "tactic": f"{TACTICS.get(t.tactic or '', '')} ({t.tactic})" if t.tactic else "",
            "url": t.url}


def tie_of(signals: dict[str, float]) -> str | None:
    """What most ties a campaign together, from its strengths (the queue's campaign type)."""
    cand = {"identity": signals.get("identity_ties", 0.0), "network": signals.get("network_ties", 0.0),
            "client": signals.get("client_ties", 0.0), "template": signals.get("template_concentration", 0.0),
            "sync": signals.get("synchronisation", 0.0)}
    best = max(cand, key=lambda k: cand[k])
    return best if cand[best] > 0 else None
