"""The names distillguard uses on the wire: one place, so member and hub agree.

Everything here is either fixed by a standard (TLP 2.0 marking ids, published by OASIS in
cti-stix-common-objects) or chosen once by us (the LLM-API client extension and the
``x_distillguard_*`` properties). docs/intel.md documents them; the hub relies only on
standard STIX semantics plus :data:`PROP_DERIVED_FROM_HUB` and :data:`PROP_CATEGORY`.
"""

from __future__ import annotations

from typing import Any

# --- TLP 2.0 (OASIS extension; stix2 only ships TLP 1.0) ---------------------------
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_IDS: dict[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP2_LEVEL_BY_ID: dict[str, str] = {v: k for k, v in TLP2_IDS.items()}


def tlp2_marking(level: str) -> dict[str, Any]:
    """The published TLP 2.0 marking-definition object for ``level`` (e.g. 'amber')."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


# --- our extension: LLM-API client artefacts as a custom SCO ------------------------
# Fixed forever: changing it would make old and new indicators incomparable.
CLIENT_SCO_TYPE = "x-llm-api-client"
CLIENT_EXTENSION_ID = "extension-definition--6c1f4a3e-3b0e-4c52-9d1a-5f0d2b7e9a41"
DISTILLGUARD_IDENTITY_ID = "identity--2f6f0f52-6a0e-4d0b-8a36-0c5b2f1c7d10"  # author of the extension

# indicator kind -> property of x-llm-api-client holding its keyed hash / sketch
KIND_PROPERTY: dict[str, str] = {
    "email": "email_hmac",
    "payment": "payment_hmac",
    "ip": "ip_hmac",
    "subnet": "subnet_hmac",
    "client": "client_hmac",
    "template": "template_sketch",
}
PROPERTY_KIND: dict[str, str] = {v: k for k, v in KIND_PROPERTY.items()}
# kinds that name shared infrastructure: never enough to block on their own
INFRASTRUCTURE_KINDS = frozenset({"ip", "subnet", "client"})

# --- custom top-level properties on indicators / campaigns / sightings --------------
PREFIX = "x_distillguard_"
PROP_KIND = PREFIX + "kind"
PROP_CATEGORY = PREFIX + "category"
PROP_DETECTOR = PREFIX + "detector"
PROP_DETECTOR_VERSION = PREFIX + "detector_version"
PROP_DERIVED_FROM_HUB = PREFIX + "derived_from_hub"
PROP_KEY_ID = PREFIX + "key_id"
PROP_POLICY_VERSION = PREFIX + "policy_version"

CATEGORIES = ("confirmed", "investigation-seed", "false-positive")
EXTENSION_PROPERTIES = (PROP_KIND, PROP_CATEGORY, PROP_DETECTOR, PROP_DETECTOR_VERSION,
                        PROP_DERIVED_FROM_HUB, PROP_KEY_ID, PROP_POLICY_VERSION)


def client_extension_definition() -> dict[str, Any]:
    """The extension-definition that declares x-llm-api-client (a new SCO type)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": CLIENT_EXTENSION_ID,
        "created_by_ref": DISTILLGUARD_IDENTITY_ID,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "LLM API client artefacts (keyed)",
        "description": (
            "Keyed HMAC-SHA256 digests and keyed MinHash sketches of LLM API client artefacts "
            "(email, payment, IP, subnet, client, template). Raw values never appear."
        ),
        "schema": "https://github.com/distillguard/distillguard/blob/main/docs/intel.md",
        "version": "1.0.0",
        "extension_types": ["new-sco", "toplevel-property-extension"],
        "extension_properties": list(EXTENSION_PROPERTIES),
    }


def extension_marker() -> dict[str, Any]:
    """The ``extensions`` entry an object carrying x_distillguard_* properties declares."""
    return {CLIENT_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}


def distillguard_identity() -> dict[str, Any]:
    """The identity that authors the extension-definition (the project, not a member)."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": DISTILLGUARD_IDENTITY_ID,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "distillguard project",
        "identity_class": "organization",
    }
