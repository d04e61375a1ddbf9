"""MITRE ATLAS techniques that describe distillation campaigns (ATLAS 5.6).

Ids and names are facts from the ATLAS data (Apache-2.0, © MITRE); only the handful the
project maps findings to are kept, so the package ships no copy of ATLAS.yaml. Tests
check every id and name against the full ATLAS.yaml in ../shared/reference.
"""

from __future__ import annotations

from dataclasses import dataclass

ATLAS_VERSION = "5.6.0"


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    tactic: str | None = None

    @property
    def url(self) -> str:
        kind = "mitigations" if self.id.startswith("AML.M") else "techniques"
        return f"https://atlas.mitre.org/{kind}/{self.id}"


TECHNIQUES: dict[str, Technique] = {
    t.id: t
    for t in (
        Technique("AML.T0024.002", "Extract AI Model", "AML.TA0010"),
        Technique("AML.T0005.001", "Train Proxy via Replication", "AML.TA0001"),
        Technique("AML.T0008.005", "AI Service Proxies", "AML.TA0003"),
        Technique("AML.T0065", "LLM Prompt Crafting", "AML.TA0003"),
        Technique("AML.T0040", "AI Model Inference API Access", "AML.TA0000"),
        Technique("AML.T0021", "Establish Accounts", "AML.TA0003"),
        Technique("AML.T0034.000", "Excessive Queries", "AML.TA0011"),
        Technique("AML.T0048.004", "AI Intellectual Property Theft", None),
    )
}

MITIGATIONS: dict[str, Technique] = {
    t.id: t
    for t in (
        Technique("AML.M0004", "Restrict Number of AI Model Queries"),
        Technique("AML.M0002", "Passive AI Output Obfuscation"),
        Technique("AML.M0024", "AI Telemetry Logging"),
    )
}

CASE_STUDY = ("AML.CS0056", "Model Distillation Campaigns Targeting Anthropic Claude")

# Which evidence implies which technique. Every campaign is model extraction through the
# inference API; the rest depend on what was seen.
ALWAYS = ("AML.T0040", "AML.T0024.002", "AML.T0005.001")
BY_SIGNAL: dict[str, tuple[str, ...]] = {
    "volume": ("AML.T0034.000",),
    "automation": ("AML.T0034.000",),
    "templating": ("AML.T0065",),
    "reasoning": ("AML.T0065",),
    "coverage": ("AML.T0065",),
    "known_corpus": ("AML.T0065",),
    "metadata": ("AML.T0021",),
    "proxy_infrastructure": ("AML.T0008.005",),
    "many_accounts": ("AML.T0021",),
}


def techniques_for(signals: list[str]) -> list[str]:
    """ATLAS ids for a campaign given the names of the signals that fired in it."""
    ids = list(ALWAYS)
    for s in signals:
        for t in BY_SIGNAL.get(s, ()):
            if t not in ids:
                ids.append(t)
    return ids
