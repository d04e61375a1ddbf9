"""Per-app state of the hub and the request checks every resource shares.

``HubContext`` bundles settings, storage, sharing policy and rate limiter, and offers the
three things handlers need: who is calling (``member``), whether a media type is
acceptable, and how to admit a POST (``admit``). Keeping them here lets taxii.py stay a
thin adapter and lets tests build a context without HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from distillguard.hub import admission
from distillguard.hub.auth import AuthError, authenticate
from distillguard.hub.limits import RateLimiter
from distillguard.hub.settings import HubSettings
from distillguard.hub.validation import Validation
from distillguard.hub.storage import Member, ObjectQuery, Storage, StoredObject, object_version
from distillguard.intel.policy import SharingPolicy

_CACHE_TTL_S = 60.0


def _credential_stamp(member: Member) -> str:
    return hashlib.sha256(f"{member.password_hash}|{member.token_hash}".encode()).hexdigest()


class TaxiiError(Exception):
    """An HTTP error answered with a TAXII error message resource."""

    def __init__(self, status: int, title: str, description: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}
        super().__init__(f"{status} {title}: {description}")


def _media_params(item: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in item.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def accept_ok(accept: str | None, *, json_ok: bool = False) -> bool:
    """TAXII 2.1 content negotiation: is our media type acceptable to this Accept header?"""
    if not accept or not accept.strip():
        return True
    for item in accept.split(","):
        mtype, params = _media_params(item)
        if params.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if mtype in ("*/*", "application/*"):
            return True
        if mtype == "application/taxii+json" and params.get("version", "2.1") == "2.1":
            return True
        if json_ok and mtype == "application/json":
            return True
    return False


@dataclass
class HubContext:
    """Everything a request handler needs; one per app."""

    settings: HubSettings
    storage: Storage
    policy: SharingPolicy
    limiter: RateLimiter
    validation: Validation = field(default_factory=lambda: Validation(1))
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _auth_cache: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def member(self, request: Request) -> Member:
        """Authenticate and rate-limit the caller; raises TaxiiError 401/429."""
        header = request.headers.get("authorization")
        client = request.client.host if request.client else "unknown"
        secure = request.url.scheme == "https"
        try:
            cached = self._cached(header) if secure or self.settings.allow_insecure_http else None
            if cached is None:
                # an address that keeps failing is refused before scrypt runs (no free hashing)
                wait = self.limiter.waiting(f"ip:{client}")
                if wait:
                    raise TaxiiError(429, "Too many requests", "too many failed logins from this address",
                                     {"Retry-After": RateLimiter.retry_after(wait)})
                member = authenticate(self.storage, header, secure=secure,
                                      allow_insecure=self.settings.allow_insecure_http)
                self._remember(header, member)
            else:
                member = cached
        except AuthError as e:
            self._throttle(f"ip:{client}")
            raise TaxiiError(e.status, "Unauthorized", str(e),
                             {"WWW-Authenticate": 'Basic realm="distillguard-hub", charset="UTF-8"'}) from None
        self._throttle(f"member:{member.name}")
        return member

    def _digest(self, header: str | None) -> str:
        return hmac.new(self._cache_key, (header or "").encode(), hashlib.sha256).hexdigest()

    def _cached(self, header: str | None) -> Member | None:
        """Skip re-running scrypt for a Basic header verified in the last minute.

        The member is re-read from storage on every request, so rights take effect at once;
        the hit counts only while the member's credential hashes are still the ones that
        were verified, so a rotated password or token never outlives its rotation. Hits do
        not extend the entry's life.
        """
        if not header:
            return None
        with self._lock:
            hit = self._auth_cache.get(self._digest(header))
        if hit is None or hit[2] < time.monotonic():
            return None
        member = self.storage.get_member(name=hit[0])
        if member is None or _credential_stamp(member) != hit[1]:
            with self._lock:
                self._auth_cache.pop(self._digest(header), None)
            return None
        return member

    def _remember(self, header: str | None, member: Member) -> None:
        if header and header[:6].lower() == "basic ":  # tokens are a cheap SHA-256: nothing to cache
            with self._lock:
                if len(self._auth_cache) > 10_000:
                    self._auth_cache.clear()
                self._auth_cache[self._digest(header)] = (member.name, _credential_stamp(member),
                                                          time.monotonic() + _CACHE_TTL_S)

    def _throttle(self, key: str) -> None:
        wait = self.limiter.hit(key)
        if wait:
            raise TaxiiError(429, "Too many requests", f"rate limit of {self.settings.rate_limit_per_minute}"
                             " requests per minute exceeded", {"Retry-After": RateLimiter.retry_after(wait)})

    @staticmethod
    def content_type_ok(content_type: str) -> bool:
        mtype, params = _media_params(content_type or "")
        return mtype == "application/taxii+json" and params.get("version", "2.1") == "2.1"

    def admit(self, member: Member, collection_id: str, objects: list[Any]) -> dict[str, Any]:
        """Judge, store the admitted objects atomically, persist and return the status."""
        ids = sorted({o["id"] for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)})
        verdicts = admission.judge(objects, identity_id=member.identity_id, policy=self.policy,
                                   owners=self.storage.owners(ids), member_name=member.name,
                                   stix=self.validation.errors(objects))
        accepted = [v for v in verdicts if v.ok]
        # one object id+version posted twice in one request is stored once
        seen: set[tuple[str, str]] = set()
        to_store: list[tuple[int, dict[str, Any]]] = []
        for v in accepted:
            obj = objects[v.index]
            key = (obj["id"], str(obj.get("modified") or obj.get("created")))
            if key not in seen:
                seen.add(key)
                to_store.append((v.index, obj))
        date_added = None
        stored: dict[int, str] = {}
        if to_store:
            date_added, _ = self.storage.add_objects(collection_id, member.name, [o for _, o in to_store])
            stored = {i: object_version(o, date_added) for i, o in to_store}
            for v in accepted:
                stored.setdefault(v.index, object_version(objects[v.index], date_added))
        status = admission.fill_status(admission.new_status(len(objects)), verdicts, stored, date_added)
        self.storage.save_status(status, member.name)
        return status
