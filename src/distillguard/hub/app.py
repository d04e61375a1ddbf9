"""FastAPI app factory of the consortium hub: TAXII 2.1 routes plus /hub/* JSON views.

``create_app(config)`` takes a distillguard ``Settings`` (its ``[hub]`` section), a
``HubSettings`` or a plain dict, and optionally an already-open ``Storage`` (tests, or a
second app on the same database to prove restarts lose nothing). Every error, including
unexpected ones, is answered as a TAXII error message resource: a hostile or broken
request gets a clear 4xx and the hub keeps serving.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from distillguard.hub.aggregate import aggregate, outcome_metrics
from distillguard.hub.context import HubContext, TaxiiError, accept_ok
from distillguard.hub.oprf import build_oprf_router, ensure_key
from distillguard.hub.limits import TAXII_MEDIA_TYPE, BodyLimitMiddleware, RateLimiter, taxii_error_body
from distillguard.hub.settings import HubSettings
from distillguard.hub.storage import Member, Storage, open_storage
from distillguard.hub.taxii import build_router
from distillguard.hub.validation import Validation
from distillguard.intel.policy import load_policy

log = logging.getLogger("distillguard.hub")


def _error(status: int, title: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return Response(taxii_error_body(status, title, description), status_code=status,
                    media_type=TAXII_MEDIA_TYPE, headers=headers)


def _readable(ctx: HubContext, member: Member) -> list[Any]:
    """Every stored version in the collections this member may read."""
    out = []
    for col in ctx.settings.collections:
        if member.can(col.id, "r"):
            out.extend(ctx.storage.iter_objects(col.id))
    return out


class NegotiationMiddleware:
    """406 when the client cannot accept what we would answer (TAXII 2.1 section 1.6.8).

    TAXII paths answer only ``application/taxii+json;version=2.1``; the /hub/* JSON views
    also accept ``application/json``. A pure ASGI middleware, so request bodies stream.
    """

    def __init__(self, app: Any, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            is_taxii = path.startswith(self.prefixes)
            accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
            if (is_taxii or path.startswith("/hub/")) and not accept_ok(accept, json_ok=not is_taxii):
                wanted = TAXII_MEDIA_TYPE if is_taxii else "application/json"
                await _error(406, "Not acceptable", f"this endpoint answers {wanted}")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def uvicorn_options(settings: HubSettings) -> dict[str, Any]:
    """uvicorn settings that trust ``X-Forwarded-*`` only from ``hub.forwarded_allow_ips``.

    uvicorn on its own trusts proxy headers from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so a
    spoofed ``X-Forwarded-Proto: https`` from any local process would pass the plain-HTTP
    refusal; the hub trusts none unless the setting names the proxy.
    """
    trusted = settings.forwarded_allow_ips.strip()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or "", "server_header": False}


def create_app(config: Any, storage: Storage | None = None) -> FastAPI:
    """Build the hub app. The storage is closed on shutdown only if this call opened it."""
    settings = config if isinstance(config, HubSettings) else HubSettings.from_settings(config)
    owned = storage is None
    store = storage if storage is not None else open_storage(settings.database)
    ctx = HubContext(settings=settings, storage=store, policy=load_policy(settings.policy),
                     limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
                     validation=Validation(settings.validation_workers))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.validation.close()
        if owned:
            store.close()

    app = FastAPI(title=settings.title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.hub = ctx
    taxii_prefixes = ("/taxii2", f"/{settings.api_root}")

    @app.exception_handler(TaxiiError)
    async def taxii_error(_: Request, exc: TaxiiError) -> Response:
        return _error(exc.status, exc.title, exc.description, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), f"{exc.status_code} {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> Response:
        return _error(400, "Bad request", str(exc.errors())[:500])

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:  # pragma: no cover - last resort
        log.exception("hub: unexpected error")
        return _error(500, "Internal error", f"{type(exc).__name__}; the hub keeps serving")

    app.include_router(build_router(ctx))
    ensure_key(ctx)
    app.include_router(build_oprf_router(ctx))

    @app.get("/hub/health", include_in_schema=False)
    def health() -> JSONResponse:
        """Unauthenticated liveness probe (says nothing about the data)."""
        return JSONResponse({"status": "ok"})

    @app.get("/hub/indicators", include_in_schema=False)
    def indicators(request: Request, status: str | None = None, pattern: str | None = None) -> JSONResponse:
        """Consortium view per indicator pattern: corroboration, disputes, retractions.

        Members use ``actionable`` (corroborated by >= 2 organisations, not disputed) to
        decide what may drive throttling; everything else only raises a score.
        """
        member = ctx.member(request)
        aggs = aggregate(_readable(ctx, member), half_life_days=settings.half_life_days,
                         threshold=settings.corroboration_threshold)
        rows = [a.to_dict() for a in aggs.values()
                if (status is None or a.status == status) and (pattern is None or a.pattern == pattern)]
        return JSONResponse({"generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "half_life_days": settings.half_life_days,
                             "corroboration_threshold": settings.corroboration_threshold,
                             "indicators": rows})

    @app.get("/hub/metrics", include_in_schema=False)
    def metrics(request: Request) -> JSONResponse:
        """Outcome metrics per member and indicator kind (confirmed vs disputed, retractions)."""
        member = ctx.member(request)
        return JSONResponse(outcome_metrics(_readable(ctx, member), half_life_days=settings.half_life_days,
                                            threshold=settings.corroboration_threshold))

    app.add_middleware(NegotiationMiddleware, prefixes=taxii_prefixes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_content_length)
    return app
