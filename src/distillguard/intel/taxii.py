"""Push and pull over any TAXII 2.1 server with the official ``taxii2-client``.

``push`` is the only way a bundle leaves: it enforces the sharing policy, validates the
STIX, sends, and appends the exact bytes sent to the hash-chained audit log, in that
order, so nothing can be sent unchecked or unrecorded (a failed send is logged as such).

``pull`` is incremental (ThreatExchange's checkpointed fetch): it asks only for objects
added after the last checkpoint, pages with ``limit``/``next``, keeps the latest version
of each object in the local :class:`IntelStore`, and advances the checkpoint to the
server's ``X-TAXII-Date-Added-Last`` (or the manifest's newest ``date_added``). New
versions with ``revoked: true`` and false-positive opinions are reported back, so whoever
acted on an indicator learns it was retracted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, Server, as_pages

from distillguard.errors import InputError, PolicyViolation
from distillguard.intel.audit import AuditLog
from distillguard.intel.policy import SharingPolicy, enforce
from distillguard.intel.stix import validate
from distillguard.intel.store import Delta, IntelStore

PAGE = 500


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a collection: its URL and credentials (Basic or token)."""

    collection_url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    verify: bool | str = True

    def collection(self) -> Collection:
        url = self.collection_url if self.collection_url.endswith("/") else self.collection_url + "/"
        if self.token:
            col = Collection(url, verify=self.verify, auth=_Bearer(self.token))
        else:
            col = Collection(url, user=self.user, password=self.password, verify=self.verify)
        return col


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def list_collections(api_root_or_discovery: str, user: str | None = None, password: str | None = None,
                     verify: bool | str = True) -> list[dict[str, Any]]:
    """Collections visible at a discovery URL (every API root) — for `intel collections`."""
    out = []
    server = Server(api_root_or_discovery, user=user, password=password, verify=verify)
    for root in server.api_roots:
        for c in root.collections:
            out.append({"api_root": root.url, "id": c.id, "title": c.title, "url": c.url,
                        "can_read": c.can_read, "can_write": c.can_write})
    return out


@dataclass
class PushResult:
    status: str
    success: int
    failure: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    audit_seq: int = 0


def push(bundle: dict[str, Any], endpoint: Endpoint, policy: SharingPolicy, audit: AuditLog) -> PushResult:
    """Check, validate, send and record one bundle. Raises PolicyViolation before sending."""
    enforce(bundle, policy)
    errors, _ = validate(bundle)
    if errors:
        raise PolicyViolation("bundle is not valid STIX 2.1: " + "; ".join(errors[:5]))
    envelope = {"objects": bundle["objects"]}
    payload = json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode()
    summary = {
        "objects": len(bundle["objects"]),
        "by_type": _count(o["type"] for o in bundle["objects"]),
        "indicator_ids": [o["id"] for o in bundle["objects"] if o["type"] == "indicator"],
        "revoked": [o["id"] for o in bundle["objects"] if o.get("revoked")],
    }
    try:
        status = endpoint.collection().add_objects(payload, wait_for_completion=True, poll_interval=1, timeout=30)
    except (requests.RequestException, TAXIIServiceException) as e:
        audit.append(action="push-failed", payload=payload, destination=endpoint.collection_url, policy=policy,
                     summary={**summary, "error": type(e).__name__})
        raise InputError(f"TAXII push failed: {e}", source=endpoint.collection_url) from e
    entry = audit.append(action="push", payload=payload, destination=endpoint.collection_url, policy=policy,
                         summary={**summary, "status": status.status, "success_count": status.success_count,
                                  "failure_count": status.failure_count})
    return PushResult(status.status, int(status.success_count or 0), int(status.failure_count or 0),
                      list(status.failures or []), int(entry["seq"]))


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


@dataclass
class PullResult:
    fetched: int
    delta: Delta
    checkpoint: str | None


def pull(endpoint: Endpoint, store: IntelStore, *, full: bool = False) -> PullResult:
    """Fetch everything added since the last checkpoint into ``store``."""
    col = endpoint.collection()
    last_header: list[str] = []

    def hook(resp: requests.Response, *a: Any, **kw: Any) -> None:
        h = resp.headers.get("X-TAXII-Date-Added-Last")
        if h:
            last_header.append(h)

    col._conn.session.hooks["response"].append(hook)
    since = None if full else store.checkpoint(endpoint.collection_url)
    filters: dict[str, Any] = {"added_after": since} if since else {}
    objects: list[dict[str, Any]] = []
    try:
        newest_manifest = None
        for page in as_pages(col.get_manifest, per_request=PAGE, **filters):
            for rec in page.get("objects", []) or []:
                d = rec.get("date_added")
                if d and (newest_manifest is None or d > newest_manifest):
                    newest_manifest = d
        last_header.clear()
        for page in as_pages(col.get_objects, per_request=PAGE, **filters):
            objects.extend(page.get("objects", []) or [])
    except (requests.RequestException, TAXIIServiceException) as e:
        raise InputError(f"TAXII pull failed: {e}", source=endpoint.collection_url) from e
    delta = store.ingest(objects)
    store.save()
    candidates = [c for c in (newest_manifest, *(last_header or [])) if c]
    checkpoint = max(candidates) if candidates else since
    if checkpoint:
        store.set_checkpoint(endpoint.collection_url, checkpoint)
    return PullResult(len(objects), delta, checkpoint)
