"""FastAPI app factory: a thin HTTP adapter over :class:`~distillguard.service.guard.Guard`.

Endpoints (docs/service.md): ``POST /v1/events``, ``POST /v1/accounts``, ``GET /v1/accounts/{id}``,
``POST /v1/feedback``, ``POST /v1/admin/reload``, ``GET /healthz``, ``GET /metrics``.
``/v1/events`` is a plain Starlette route (orjson in, orjson out, no per-event pydantic
model) because it sits in a gateway's request path; the others use pydantic. Every
client mistake becomes a 4xx with a message; any unexpected error is a 500 with a
message, never a dead process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from distillguard.config import Settings
from distillguard.service.guard import Guard
from distillguard.service.protect_api import mount_protect
from distillguard.service.schemas import FeedbackIn, RequestError, parse_accounts, parse_events
from distillguard.service.state import StateStore


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def create_app(settings: Settings, store: StateStore | None = None) -> FastAPI:
    """Build the app. ``store`` replaces the configured state store (tests inject slow ones)."""
    cfg = settings.service
    guard = Guard(cfg, store, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await guard.start()
        try:
            yield
        finally:
            await guard.stop()

    app = FastAPI(title="distillguard real-time guard", version="1", lifespan=lifespan)
    app.state.guard = guard
    m = guard.metrics

    async def decide_body(body: bytes) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        try:
            evs, batch = parse_events(body, cfg.max_batch, cfg.max_prompt_chars)
            out = await guard.process(evs)
        except RequestError as e:
            m.requests[("/v1/events", e.status)] += 1
            return e.status, orjson.dumps({"error": e.message})
        m.requests[("/v1/events", 200)] += 1
        data = orjson.dumps({"decisions": out} if batch else out[0])
        m.observe(time.perf_counter() - t0)
        return 200, data

    mount_protect(app, guard)  # POST /v1/protect: output protection (docs/provenance.md)
    app.add_middleware(_EventsFastPath, decide=decide_body, max_body=cfg.max_body_bytes, count=m.requests)

    @app.get("/v1/accounts/{account_id}")
    async def account(account_id: str) -> Response:
        view = await guard.account(account_id)
        m.requests[("/v1/accounts", 200 if view else 404)] += 1
        if view is None:
            return _json({"error": f"account {account_id!r} has not been seen"}, 404)
        return _json(view)

    @app.post("/v1/accounts")
    async def accounts(request: Request) -> Response:
        """The accounts feed: sign-ups and profile changes (identity facts for live linking)."""
        try:
            recs = parse_accounts(await request.body(), cfg.max_batch)
        except RequestError as e:
            m.requests[("/v1/accounts", e.status)] += 1
            return _json({"error": e.message}, e.status)
        m.requests[("/v1/accounts", 200)] += 1
        return _json({"accounts": guard.learn_accounts(recs)})

    @app.post("/v1/feedback")
    async def feedback(fb: FeedbackIn) -> Response:
        m.requests[("/v1/feedback", 200)] += 1
        return _json(await guard.feedback(fb.account_id, fb.verdict, fb.analyst, fb.note))

    @app.post("/v1/admin/reload")
    async def reload() -> Response:
        return _json(guard.reload())

    @app.post("/v1/admin/flush")
    async def flush() -> Response:
        return _json({"states_written": await guard.flush()})

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok", "accounts_in_memory": len(guard.cache), "policy_version": guard.policy.version,
                      "policy_error": guard.policy.last_error, "seed": guard.seed.source})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(m.render(), media_type="text/plain; version=0.0.4")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "details": errs}, status_code=422)

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        m.requests[("error", 500)] += 1
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    return app


class _EventsFastPath:
    """Raw ASGI handler for ``POST /v1/events``: skips routing and Request/Response objects.

    Every other path falls through to FastAPI. The body is read with a running size check
    so an oversized upload is refused (413) without buffering it whole.
    """

    def __init__(self, app: Any, decide: Any, max_body: int, count: Any) -> None:
        self.app, self.decide, self.max_body, self.count = app, decide, max_body, count

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/events":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            status, data = 405, orjson.dumps({"error": "use POST"})
        else:
            status, data = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def _handle(self, scope: Any, receive: Any) -> tuple[int, bytes]:
        too_big = orjson.dumps({"error": f"body larger than {self.max_body:,} bytes"})
        for k, v in scope["headers"]:
            if k == b"content-length" and (not v.isdigit() or int(v) > self.max_body):
                self.count[("/v1/events", 413)] += 1
                return 413, too_big
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return 400, b'{"error": "client disconnected"}'
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                self.count[("/v1/events", 413)] += 1
                return 413, too_big
            chunks.append(chunk)
            more = msg.get("more_body", False)
        return await self.decide(b"".join(chunks))
