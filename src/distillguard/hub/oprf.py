"""The hub as OPRF key holder: ``/hub/oprf/keys``, ``/hub/oprf/evaluate``, ``/hub/oprf/usage``.

Members send blinded ristretto255 elements (RFC 9497, VOPRF mode) and get back evaluations
with a batch DLEQ proof under the published public key. The hub never sees the values
(blinding is information-theoretic), and members never see the key. Every request is
counted against the member's 24-hour quota (``hub.oprf_quota_per_day``, 429 above) and
recorded in the ``oprf_audit`` table (member, time, key, count): each guess a member might
test costs one evaluation, visible to the consortium.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from distillguard.errors import InputError
from distillguard.hub.context import HubContext, TaxiiError
from distillguard.hub.storage import format_ts
from distillguard.intel.oprf import KeyHolder, b64, new_key, unb64

SUITE = "ristretto255-SHA512"


def ensure_key(ctx: HubContext) -> KeyHolder:
    """The hub's key holder, creating the first key on first use."""
    keys = ctx.storage.oprf_keys()
    if not keys:
        ctx.storage.save_oprf_key(new_key())
        keys = ctx.storage.oprf_keys()
    return KeyHolder(keys)


def build_oprf_router(ctx: HubContext) -> APIRouter:
    router = APIRouter()
    s = ctx.settings
    state: dict[str, Any] = {}
    quota_lock = threading.Lock()

    def holder() -> KeyHolder:
        current = [(k.id, k.retired) for k in ctx.storage.oprf_keys()]
        if state.get("keys") != current:  # rotated or retired since: reload
            state["holder"], state["keys"] = ensure_key(ctx), [(k.id, k.retired) for k in ctx.storage.oprf_keys()]
        return state["holder"]

    @router.get("/hub/oprf/keys", include_in_schema=False)
    def keys(request: Request) -> JSONResponse:
        """Public keys the hub evaluates under (current first). Pin them out of band."""
        ctx.member(request)
        h = holder()
        pubs = h.public_keys()
        rows = [{"id": k.id, "public_key": b64(pubs[k.id]), "created": k.created, "retired": k.retired}
                for k in sorted(h.keys.values(), key=lambda k: (k.id != h.current, k.created)) if k.active()]
        return JSONResponse({"suite": SUITE, "mode": "voprf", "rfc": 9497, "current": h.current, "keys": rows,
                             "max_per_request": s.oprf_max_per_request, "quota_per_day": s.oprf_quota_per_day})

    @router.post("/hub/oprf/evaluate", include_in_schema=False)
    async def evaluate(request: Request) -> JSONResponse:
        """Evaluate a batch of blinded elements for the calling member (rate-limited, audited)."""
        member = await run_in_threadpool(ctx.member, request)
        if not member.rights:
            raise TaxiiError(403, "Forbidden", f"member {member.name} has no rights on any collection, "
                             "so it has nothing to tokenise for")
        raw = await request.body()
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise TaxiiError(400, "Malformed JSON", "the body must be {\"key_id\": ..., \"blinded\": [base64, ...]}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("blinded"), list) \
                or not all(isinstance(b, str) for b in doc["blinded"]):
            raise TaxiiError(400, "Bad request", "the body must be {\"key_id\": ..., \"blinded\": [base64, ...]}")
        blinded_text: list[str] = doc["blinded"]
        if not 1 <= len(blinded_text) <= s.oprf_max_per_request:
            raise TaxiiError(413 if blinded_text else 400, "Bad batch size",
                             f"send between 1 and {s.oprf_max_per_request} blinded elements per request")
        h = holder()
        key_id = doc.get("key_id") or h.current
        if not isinstance(key_id, str) or key_id not in h.keys or not h.keys[key_id].active():
            raise TaxiiError(400, "Unknown key", f"no active OPRF key {str(key_id)[:40]!r}; see /hub/oprf/keys")
        try:
            blinded = [unb64(b) for b in blinded_text]
        except InputError as e:
            raise TaxiiError(400, "Bad blinded element", str(e)) from None
        with quota_lock:  # check and record together: concurrent requests cannot overrun the quota
            since = format_ts(datetime.now(timezone.utc) - timedelta(days=1))
            used = sum(n for *_, n in ctx.storage.oprf_usage(member.name, since))
            if used + len(blinded) > s.oprf_quota_per_day:
                raise TaxiiError(429, "OPRF quota exceeded",
                                 f"member {member.name} used {used} of {s.oprf_quota_per_day} evaluations in 24 h; "
                                 f"this request asks for {len(blinded)}", {"Retry-After": "3600"})
            ctx.storage.record_oprf(member.name, key_id, len(blinded))  # recorded as asked, before evaluating
        try:
            out = await run_in_threadpool(h.evaluate, key_id, blinded)
        except InputError as e:
            raise TaxiiError(400, "Bad blinded element", str(e)) from None
        return JSONResponse({"key_id": key_id, "count": len(blinded), "evaluated": b64(out),
                             "quota_left": s.oprf_quota_per_day - used - len(blinded)})

    @router.get("/hub/oprf/usage", include_in_schema=False)
    def usage(request: Request) -> JSONResponse:
        """Evaluations per member (an admin sees every member, others only themselves)."""
        member = ctx.member(request)
        rows = ctx.storage.oprf_usage(None if member.admin else member.name)
        totals: dict[str, dict[str, Any]] = {}
        day = format_ts(datetime.now(timezone.utc) - timedelta(days=1))
        for name, ts, _kid, n in rows:
            t = totals.setdefault(name, {"member": name, "requests": 0, "evaluations": 0, "last_24h": 0, "last": ts})
            t["requests"] += 1
            t["evaluations"] += n
            t["last_24h"] += n if ts >= day else 0
            t["last"] = ts
        return JSONResponse({"members": sorted(totals.values(), key=lambda t: t["member"])})

    return router
