"""The export pipeline: findings + confirmed campaign ids + local data -> a checked bundle.

Only campaigns an analyst confirmed leave; their artefacts are hashed at the edge
(artefacts.py); the bundle is built (stix.py) and checked against the sharing policy and
the OASIS validator before anyone can push it. Provenance: a campaign whose evidence
includes the ``intel_match`` signal was (partly) caused by hub intel, so its indicators
say ``derived_from_hub`` and never count as independent corroboration elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillguard.errors import InputError
from distillguard.findings import read_findings
from distillguard.intel.artefacts import connect, campaign_artefacts, hashed_artefacts, raw_values
from distillguard.intel.hashing import Keyring
from distillguard.intel.oprf import OPRF_KINDS
from distillguard.intel.policy import SharingPolicy, check_bundle
from distillguard.intel.stix import CampaignIntel, ExportOptions, build_bundle, validate

HUB_SIGNAL = "intel_match"

if TYPE_CHECKING:
    from distillguard.intel.oprf import OprfClient
    from distillguard.intel.signing import SigningKey


def read_confirmed(path: str | Path) -> list[str]:
    """Campaign ids an analyst confirmed: one per line (# comments) or a JSON list."""
    p = Path(path)
    if not p.exists():
        raise InputError("confirmed-campaigns file not found", source=str(p))
    text = p.read_text().strip()
    if text.startswith("["):
        try:
            ids = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON list: {e}", source=str(p)) from e
        return [str(i) for i in ids]
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


@dataclass
class ExportReport:
    campaigns: int = 0
    indicators: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)
    policy_issues: list[str] = field(default_factory=list)
    stix_errors: list[str] = field(default_factory=list)
    stix_warnings: int = 0


def _hub_caused_accounts(rows: list[dict[str, Any]]) -> set[str]:
    """Accounts whose findings cite the hub-intel signal among their reasons."""
    return {r["account_id"] for r in rows
            if any((x or {}).get("signal") == HUB_SIGNAL and (x or {}).get("value") for x in (r.get("reasons") or []))}


def export_campaigns(findings_dir: str | Path, confirmed: list[str], events: str | Path, accounts: str | Path | None,
                     keyring: Keyring, opts: ExportOptions, policy: SharingPolicy,
                     oprf: "OprfClient | None" = None,
                     signing_key: "SigningKey | None" = None) -> tuple[dict[str, Any], ExportReport]:
    """Build the bundle for the confirmed campaigns; the report says what was held back.

    ``oprf`` reaches the consortium's OPRF key holder: emails, payment fingerprints, IPs and
    subnets are shared only as OPRF tokens; without it they are held back (and the report
    says so), never hashed under the shared key.
    """
    f = read_findings(findings_dir)
    by_id = {c.id: c for c in f.campaigns}
    unknown = [c for c in confirmed if c not in by_id]
    if unknown:
        raise InputError(f"confirmed campaign ids not in the findings: {unknown[:5]}", source=str(findings_dir))
    if not confirmed:
        raise InputError("no confirmed campaigns: nothing to share")
    hub_caused = _hub_caused_accounts(f.accounts.to_pylist())
    con = connect(events, accounts)
    rows = raw_values(con)
    hashed = hashed_artefacts(keyring, rows, oprf)
    items, report = [], ExportReport()
    if oprf is None:
        members = {a for cid in confirmed for a in by_id[cid].account_ids}
        low = {k for a, k, _ in rows if a in members and k in OPRF_KINDS}
        low |= {"subnet"} if "ip" in low else set()
        for k in sorted(low):
            report.held_back[f"{k} (no OPRF key holder: low-entropy identifiers are shared only as OPRF tokens)"] = \
                len({v for a, kk, v in rows if a in members and kk == (k if k != "subnet" else "ip")})
    detector = str(f.meta.get("tool", "distillguard"))
    version = str(f.meta.get("version", "unknown"))
    for cid in confirmed:
        c = by_id[cid]
        arts = campaign_artefacts(con, keyring, list(c.account_ids), hashed)
        for k, n in arts.dropped_shared_with_others.items():
            report.held_back[f"{k} (also held by accounts outside the campaign)"] = \
                report.held_back.get(f"{k} (also held by accounts outside the campaign)", 0) + n
        for k, n in arts.capped.items():
            report.held_back[f"{k} (over the per-kind cap)"] = report.held_back.get(f"{k} (over the per-kind cap)", 0) + n
        items.append(CampaignIntel(c, arts.artefacts, detector, version,
                                   derived_from_hub=float((c.signals or {}).get(HUB_SIGNAL, 0.0)) > 0
                                   or bool(hub_caused & set(c.account_ids))))
    con.close()
    if not opts.policy_version:
        opts.policy_version = policy.version
    bundle = build_bundle(items, opts)
    if signing_key is not None:
        from distillguard.intel.signing import sign_bundle
        from distillguard.intel.stix import org_identity_id

        bundle = sign_bundle(bundle, signing_key, opts.identity_id or org_identity_id(opts.org))
    report.campaigns = len(items)
    for o in bundle["objects"]:
        if o["type"] == "indicator":
            report.indicators += 1
            k = o.get("x_distillguard_kind", "?")
            report.by_kind[k] = report.by_kind.get(k, 0) + 1
    report.policy_issues = [str(i) for i in check_bundle(bundle, policy)]
    errs, warns = validate(bundle)
    report.stix_errors, report.stix_warnings = errs, len(warns)
    return bundle, report
