"""TAXII 2.1 resources: discovery, API root, status, collections, objects, manifest, versions.

A thin HTTP adapter: it negotiates media types, authenticates and authorises, parses the
TAXII query parameters into an ``ObjectQuery`` and wraps results in envelopes. Storage
does the querying, ``admission`` decides what a POST may add. Section numbers refer to
the TAXII 2.1 specification (OASIS Standard, 2021).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from distillguard.hub.context import HubContext, TaxiiError
from distillguard.hub.limits import TAXII_MEDIA_TYPE
from distillguard.hub.storage import Member, ObjectQuery, StoredObject, normalise_ts

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
MAX_DEPTH = 32  # envelope -> objects -> object -> extensions -> ... ; real STIX stays under 10


def json_depth(doc: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def taxii_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _added_headers(objs: list[StoredObject]) -> dict[str, str]:
    if not objs:
        return {}
    added = sorted(o.date_added for o in objs)
    return {"X-TAXII-Date-Added-First": added[0], "X-TAXII-Date-Added-Last": added[-1]}


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def object_query(request: Request, ctx: HubContext, collection_id: str, object_id: str | None = None) -> ObjectQuery:
    """Parse added_after, limit, next and match[...] (section 3.4) into an ObjectQuery."""
    qp = request.query_params
    try:
        added_after = normalise_ts(qp["added_after"]) if qp.get("added_after") else None
    except ValueError:
        raise TaxiiError(400, "Bad added_after", "added_after must be a timestamp like 2026-01-31T00:00:00.000Z") from None
    limit = ctx.settings.page_limit
    if qp.get("limit"):
        try:
            limit = int(qp["limit"])
        except ValueError:
            raise TaxiiError(400, "Bad limit", "limit must be a positive integer") from None
        if limit < 1:
            raise TaxiiError(400, "Bad limit", "limit must be a positive integer")
        limit = min(limit, ctx.settings.page_limit)
    after_seq = 0
    if qp.get("next"):
        if not qp["next"].isascii() or not qp["next"].isdigit() or len(qp["next"]) > 18:
            raise TaxiiError(400, "Bad next", "next must be a value returned by this server")
        after_seq = int(qp["next"])
    versions: list[str] = []
    for v in _split(qp.getlist("match[version]")):
        if v in ("last", "first", "all"):
            versions.append(v)
        else:
            try:
                versions.append(normalise_ts(v))
            except ValueError:
                raise TaxiiError(400, "Bad match[version]", "use last, first, all or a timestamp") from None
    ids = [object_id] if object_id else _split(qp.getlist("match[id]"))
    return ObjectQuery(
        collection_id=collection_id, ids=ids, types=_split(qp.getlist("match[type]")),
        versions=versions or ["last"], spec_versions=_split(qp.getlist("match[spec_version]")),
        added_after=added_after, after_seq=after_seq, limit=limit)


def _envelope(objs: list[StoredObject], more: bool, key: str, item: Callable[[StoredObject], Any]) -> Response:
    body: dict[str, Any] = {"more": more}
    if more and objs:
        body["next"] = str(objs[-1].seq)
    if objs:
        body[key] = [item(o) for o in objs]
    return taxii_response(body, headers=_added_headers(objs))


def build_router(ctx: HubContext) -> APIRouter:
    """The TAXII routes bound to one hub context (settings, storage, policy, limits)."""
    router = APIRouter()
    s = ctx.settings
    root = f"/{s.api_root}"

    def route(path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``path`` with and without its trailing slash (clients differ)."""
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            router.add_api_route(path, fn, methods=methods, include_in_schema=False)
            router.add_api_route(path.rstrip("/"), fn, methods=methods, include_in_schema=False)
            return fn
        return deco

    def collection_for(request: Request, collection_id: str, mode: str | None) -> tuple[Member, dict[str, Any]]:
        member = ctx.member(request)
        col = s.collection(collection_id)
        if col is None:
            raise TaxiiError(404, "Unknown collection", f"no collection {collection_id} in this API root")
        if not (member.can(collection_id, "r") or member.can(collection_id, "w")):
            raise TaxiiError(403, "Forbidden", f"member {member.name} has no access to collection {collection_id}")
        if mode and not member.can(collection_id, mode):
            what = "read" if mode == "r" else "write to"
            raise TaxiiError(403, "Forbidden", f"member {member.name} may not {what} collection {collection_id}")
        return member, {"id": col.id, "title": col.title, "description": col.description,
                        **({"alias": col.alias} if col.alias else {}),
                        "can_read": member.can(col.id, "r"), "can_write": member.can(col.id, "w"),
                        "media_types": [STIX_MEDIA_TYPE]}

    @route("/taxii2/", ["GET"])
    def discovery(request: Request) -> Response:
        """Section 4.1: server discovery."""
        ctx.member(request)
        return taxii_response({"title": s.title, "description": s.description,
                               **({"contact": s.contact} if s.contact else {}),
                               "default": f"{root}/", "api_roots": [f"{root}/"]})

    @route(f"{root}/", ["GET"])
    def api_root(request: Request) -> Response:
        """Section 4.2: API root information."""
        ctx.member(request)
        return taxii_response({"title": s.title, "description": s.description, "versions": [TAXII_MEDIA_TYPE],
                               "max_content_length": s.max_content_length})

    @route(f"{root}/status/{{status_id}}/", ["GET"])
    def status(request: Request, status_id: str) -> Response:
        """Section 4.3: the status of an earlier POST (only its poster may read it)."""
        member = ctx.member(request)
        found = ctx.storage.load_status(status_id)
        if found is None or (found[1] != member.name and not member.admin):
            raise TaxiiError(404, "Unknown status", f"no status {status_id} for member {member.name}")
        return taxii_response(found[0])

    @route(f"{root}/collections/", ["GET"])
    def collections(request: Request) -> Response:
        """Section 5.1: the collections this member may read or write."""
        member = ctx.member(request)
        cols = [collection_for(request, c.id, None)[1] for c in s.collections
                if member.can(c.id, "r") or member.can(c.id, "w")]
        return taxii_response({"collections": cols} if cols else {})

    @route(f"{root}/collections/{{collection_id}}/", ["GET"])
    def collection(request: Request, collection_id: str) -> Response:
        """Section 5.2: one collection."""
        return taxii_response(collection_for(request, collection_id, None)[1])

    @route(f"{root}/collections/{{collection_id}}/objects/", ["GET"])
    def get_objects(request: Request, collection_id: str) -> Response:
        """Section 5.3: objects, paged, filtered by added_after and match[...]."""
        collection_for(request, collection_id, "r")
        objs, more = ctx.storage.query(object_query(request, ctx, collection_id))
        return _envelope(objs, more, "objects", lambda o: o.body)

    @route(f"{root}/collections/{{collection_id}}/objects/", ["POST"])
    async def add_objects(request: Request, collection_id: str) -> Response:
        """Section 5.4: add objects; each is validated and policy-checked, the verdicts
        go into a status resource (202)."""
        member, _ = await run_in_threadpool(collection_for, request, collection_id, "w")
        ctype = request.headers.get("content-type", "")
        if not ctx.content_type_ok(ctype):
            raise TaxiiError(415, "Unsupported media type", f"POST bodies must be {TAXII_MEDIA_TYPE}, got {ctype!r}")
        raw = await request.body()
        try:
            envelope = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise TaxiiError(400, "Malformed JSON", f"the body is not valid JSON: {str(e)[:200]}") from None
        except RecursionError:
            raise TaxiiError(400, "Malformed JSON", f"the body nests deeper than {MAX_DEPTH} levels") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise TaxiiError(400, "Not an envelope", "the body must be a TAXII envelope: {\"objects\": [...]}")
        if json_depth(envelope) > MAX_DEPTH:
            raise TaxiiError(400, "Too deeply nested", f"STIX objects never nest deeper than {MAX_DEPTH} levels")
        objects = envelope["objects"]
        if len(objects) > s.max_objects_per_request:
            raise TaxiiError(413, "Too many objects",
                             f"{len(objects)} objects exceed max_objects_per_request ({s.max_objects_per_request})")
        body = await run_in_threadpool(ctx.admit, member, collection_id, objects)
        return taxii_response(body, status=202)

    @route(f"{root}/collections/{{collection_id}}/objects/{{object_id}}/", ["GET"])
    def get_object(request: Request, collection_id: str, object_id: str) -> Response:
        """Section 5.5: one object (its latest version unless match[version] says otherwise)."""
        collection_for(request, collection_id, "r")
        objs, more = ctx.storage.query(object_query(request, ctx, collection_id, object_id))
        if not objs and not more and not request.query_params.get("next"):
            probe, _ = ctx.storage.query(ObjectQuery(collection_id, ids=[object_id], versions=["all"], limit=1))
            if not probe:
                raise TaxiiError(404, "Unknown object", f"no object {object_id} in collection {collection_id}")
        return _envelope(objs, more, "objects", lambda o: o.body)

    @route(f"{root}/collections/{{collection_id}}/objects/{{object_id}}/versions/", ["GET"])
    def versions(request: Request, collection_id: str, object_id: str) -> Response:
        """Section 5.8: every version of one object."""
        collection_for(request, collection_id, "r")
        q = object_query(request, ctx, collection_id, object_id)
        objs, more = ctx.storage.query(dataclasses.replace(q, versions=["all"]))
        if not objs and not q.after_seq and not q.added_after:
            raise TaxiiError(404, "Unknown object", f"no object {object_id} in collection {collection_id}")
        return _envelope(objs, more, "versions", lambda o: o.version)

    @route(f"{root}/collections/{{collection_id}}/manifest/", ["GET"])
    def manifest(request: Request, collection_id: str) -> Response:
        """Section 5.6: manifest (id, date_added, version, media type) of matching objects."""
        collection_for(request, collection_id, "r")
        objs, more = ctx.storage.query(object_query(request, ctx, collection_id))
        return _envelope(objs, more, "objects", lambda o: {
            "id": o.id, "date_added": o.date_added, "version": o.version, "media_type": STIX_MEDIA_TYPE})

    return router
