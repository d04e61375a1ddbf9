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
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

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
    envelopes: int = 0
    skipped: int = 0  # objects an earlier, partly accepted push of this bundle already delivered


HEAD_TYPES = ("marking-definition", "extension-definition", "identity")
SIZE_MARGIN = 0.98  # keep each envelope a little under the advertised limit


def _object_key(obj: dict[str, Any]) -> str:
    return f"{obj.get('id')}|{obj.get('modified') or obj.get('created') or ''}"


def envelopes(objects: list[dict[str, Any]], max_bytes: int, max_objects: int = 1000) -> list[bytes]:
    """Split objects into TAXII envelopes whose bodies fit ``max_bytes`` (and ``max_objects``).

    Shared context (markings, the extension definition, identities) goes first, so the
    first envelope carries it. An object that alone exceeds the limit is an InputError.
    """
    budget = int(max_bytes * SIZE_MARGIN) - len(b'{"objects": []}')
    ordered = [o for o in objects if o.get("type") in HEAD_TYPES] + [o for o in objects if o.get("type") not in HEAD_TYPES]
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for o in ordered:
        data = json.dumps(o, ensure_ascii=False, sort_keys=True).encode()
        if len(data) > budget:
            raise InputError(f"object {o.get('id')} alone is {len(data)} bytes, over the server's "
                             f"max_content_length ({max_bytes})")
        if chunk and (size + len(data) + 2 > budget or len(chunk) >= max_objects):
            out.append(b'{"objects": [' + b", ".join(chunk) + b"]}")
            chunk, size = [], 0
        chunk.append(data)
        size += len(data) + 2
    if chunk:
        out.append(b'{"objects": [' + b", ".join(chunk) + b"]}")
    return out


def _progress_path(audit: AuditLog, destination: str, bundle: dict[str, Any]) -> Any:
    import hashlib

    key = hashlib.sha256(f"{destination}\x00{bundle.get('id')}\x00".encode()
                         + json.dumps(sorted(_object_key(o) for o in bundle["objects"])).encode()).hexdigest()
    return audit.folder / "progress" / f"{key}.json"


def max_content_length(endpoint: Endpoint) -> int | None:
    """The API root's advertised max_content_length (None if it does not say)."""
    url = endpoint.collection_url.split("/collections/", 1)[0] + "/"
    auth = _Bearer(endpoint.token) if endpoint.token else None
    root = ApiRoot(url, user=None if auth else endpoint.user, password=None if auth else endpoint.password,
                   verify=endpoint.verify, auth=auth)
    try:
        n = root.max_content_length
        return int(n) if n else None
    finally:
        root.close()


# OASIS medallion 3.0.0 (and servers built like it) read an object's ``version`` property as
# its TAXII version timestamp, so a collection holding an extension-definition ("version":
# "1.0.0") answers 500 to every pull. Receivers need only the definition's id, which is fixed
# and published (docs/intel.md), so for such servers push without it.
STANDARD_SERVER_OMIT = ("extension-definition",)


def push(bundle: dict[str, Any], endpoint: Endpoint, policy: SharingPolicy, audit: AuditLog, *,
         max_bytes: int | None = None, max_objects: int = 1000, omit_types: tuple[str, ...] = ()) -> PushResult:
    """Check, validate, send and record one bundle. Raises PolicyViolation before sending.

    The bundle is split into envelopes that fit the API root's ``max_content_length``
    (or ``max_bytes``); each envelope is one TAXII add-objects request and one audit entry.
    Objects the server accepted are remembered in ``<audit>/progress/``, so re-running a
    push that failed half-way sends only what was not yet accepted. ``omit_types`` leaves
    object types out (``STANDARD_SERVER_OMIT`` for medallion-like servers).
    """
    enforce(bundle, policy)
    errors, _ = validate(bundle)
    if errors:
        raise PolicyViolation("bundle is not valid STIX 2.1: " + "; ".join(errors[:5]))
    try:
        limit = max_bytes or max_content_length(endpoint) or 10_000_000
    except (requests.RequestException, TAXIIServiceException) as e:
        raise InputError(f"TAXII API root unreachable: {e}", source=endpoint.collection_url) from e
    if omit_types:
        bundle = {**bundle, "objects": [o for o in bundle["objects"] if o.get("type") not in omit_types]}
    progress_file = _progress_path(audit, endpoint.collection_url, bundle)
    done: set[str] = set(json.loads(progress_file.read_text())["accepted"]) if progress_file.exists() else set()
    todo = [o for o in bundle["objects"] if _object_key(o) not in done or o.get("type") in HEAD_TYPES]
    skipped = len(bundle["objects"]) - len(todo)
    if not [o for o in todo if o.get("type") not in HEAD_TYPES] and skipped:
        return PushResult("complete", 0, 0, [], 0, 0, skipped)
    result = PushResult("complete", 0, 0, [], 0, 0, skipped)
    by_id = {o["id"]: o for o in todo}
    parts = envelopes(todo, limit, max_objects)
    col = endpoint.collection()
    for n, payload in enumerate(parts, 1):
        sent = json.loads(payload)["objects"]
        summary = {
            "objects": len(sent), "envelope": f"{n}/{len(parts)}", "bundle_id": bundle.get("id"),
            "by_type": _count(o["type"] for o in sent),
            "indicator_ids": [o["id"] for o in sent if o["type"] == "indicator"],
            "revoked": [o["id"] for o in sent if o.get("revoked")],
        }
        try:
            status = col.add_objects(payload, wait_for_completion=True, poll_interval=1, timeout=30)
        except (requests.RequestException, TAXIIServiceException) as e:
            audit.append(action="push-failed", payload=payload, destination=endpoint.collection_url, policy=policy,
                         summary={**summary, "error": type(e).__name__})
            raise InputError(f"TAXII push failed at envelope {n} of {len(parts)} ({result.success} object(s) "
                             f"accepted so far; run the same push again to resume): {e}",
                             source=endpoint.collection_url) from e
        entry = audit.append(action="push", payload=payload, destination=endpoint.collection_url, policy=policy,
                             summary={**summary, "status": status.status, "success_count": status.success_count,
                                      "failure_count": status.failure_count})
        for ok in status.successes or []:
            obj = by_id.get(ok.get("id", "") if isinstance(ok, dict) else "")
            if obj is not None:
                done.add(_object_key(obj))
        progress_file.parent.mkdir(parents=True, exist_ok=True)
        progress_file.write_text(json.dumps({"destination": endpoint.collection_url, "accepted": sorted(done)}))
        result.success += int(status.success_count or 0)
        result.failure += int(status.failure_count or 0)
        result.failures.extend(list(status.failures or []))
        result.audit_seq = int(entry["seq"])
        result.envelopes += 1
        if status.status != "complete":
            result.status = str(status.status)
    return result


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
