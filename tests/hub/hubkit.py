"""Helpers for hub tests: a real uvicorn server on 127.0.0.1 and member bundles built by hand.

The server runs in a background thread on a free port and is driven over real HTTP, by the
unmodified official taxii2-client and by httpx.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from distillguard.hub.app import create_app
from distillguard.hub.auth import hash_password, hash_token, parse_rights
from distillguard.hub.settings import DEFAULT_COLLECTION, HubSettings
from distillguard.hub.storage import Member, SQLiteStorage
from distillguard.intel import vocab
from distillguard.testing.server import ThreadedServer

COL = DEFAULT_COLLECTION.id
AMBER = vocab.TLP2_IDS["amber"]




class HubServer:
    """A hub app served by uvicorn in a thread; ``stop()`` shuts it down cleanly."""

    def __init__(self, settings: HubSettings, storage: SQLiteStorage | None = None,
                 ssl: tuple[str, str] | None = None) -> None:
        self.app = create_app(settings, storage=storage)
        self._srv = ThreadedServer(self.app, ssl=ssl)
        self.port, self.url = self._srv.port, self._srv.url

    def stop(self) -> None:
        self._srv.stop()


@dataclass(frozen=True)
class MemberCreds:
    name: str
    password: str
    token: str
    identity: str


def add_member(storage: SQLiteStorage, name: str, read: list[str], write: list[str], admin: bool = False) -> MemberCreds:
    creds = MemberCreds(name, f"pw-{name}-secret", f"dgh_token_{name}_{uuid.uuid4().hex}",
                        f"identity--{uuid.uuid5(uuid.NAMESPACE_DNS, name + '.example')}")
    storage.save_member(Member(name=name, identity_id=creds.identity, rights=parse_rights(read, write),
                               password_hash=hash_password(creds.password), token_hash=hash_token(creds.token),
                               admin=admin))
    return creds


def hub_settings(db: Path, **over: Any) -> HubSettings:
    base: dict[str, Any] = {"database": str(db), "allow_insecure_http": True, "rate_limit_per_minute": 100_000,
                            "rate_limit_burst": 10_000, "max_content_length": 200_000,
                            "half_life_days": 3650.0}  # fixed 2026-01 timestamps stay "fresh"
    base.update(over)
    return HubSettings.model_validate(base)


# ---- STIX objects as a member's exporter would write them ---------------------------
def ts(day: int = 1, second: int = 0) -> str:
    return f"2026-01-{day:02d}T00:00:{second:02d}.000Z"


def identity(creds: MemberCreds) -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": creds.identity, "created": ts(), "modified": ts(),
            "name": creds.name, "identity_class": "organization", "object_marking_refs": [AMBER]}


def pattern(kind: str, secret: str) -> str:
    import hashlib

    digest = hashlib.sha256(secret.encode()).hexdigest()
    key_id = "oprf-test1" if kind in ("email", "payment", "ip", "subnet") else "k2026a"
    return f"[{vocab.CLIENT_SCO_TYPE}:{vocab.KIND_PROPERTY[kind]} = '{key_id}:{digest}']"


def indicator(creds: MemberCreds, kind: str, secret: str, *, category: str = "confirmed", derived: bool = False,
              revoked: bool = False, modified: str | None = None, oid: str | None = None,
              valid_until: str = "2099-01-01T00:00:00.000Z", created: str | None = None) -> dict[str, Any]:
    now = ts()
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": oid or f"indicator--{uuid.uuid4()}",
        "created": created or now, "modified": modified or now,
        "created_by_ref": creds.identity, "name": f"{kind} artefact", "indicator_types": ["malicious-activity"],
        "pattern": pattern(kind, secret), "pattern_type": "stix", "valid_from": now,
        "valid_until": valid_until, "confidence": 80, "object_marking_refs": [AMBER],
        vocab.PROP_KIND: kind, vocab.PROP_CATEGORY: category, vocab.PROP_DETECTOR: "coordination",
        vocab.PROP_DETECTOR_VERSION: "1.0", vocab.PROP_DERIVED_FROM_HUB: derived,
    }
    if revoked:
        obj["revoked"] = True
    return obj


def opinion(creds: MemberCreds, refs: list[str], value: str = "strongly-disagree") -> dict[str, Any]:
    return {"type": "opinion", "spec_version": "2.1", "id": f"opinion--{uuid.uuid4()}", "created": ts(2),
            "modified": ts(2), "created_by_ref": creds.identity, "opinion": value, "object_refs": refs,
            "object_marking_refs": [AMBER], vocab.PROP_CATEGORY: "false-positive"}


def envelope(*objs: dict[str, Any]) -> dict[str, Any]:
    return {"objects": [vocab.tlp2_marking("amber"), *objs]}


def client(server: HubServer, creds: MemberCreds | None = None, **kw: Any) -> httpx.Client:
    headers = {"Accept": "application/taxii+json;version=2.1"}
    auth = (creds.name, creds.password) if creds else None
    return httpx.Client(base_url=server.url, auth=auth, headers=headers, timeout=20, **kw)
