"""FastAPI app factory: a thin HTTP adapter over :class:`~distillguard.service.guard.Guard`.

Endpoints (docs/service.md): ``POST /v1/events``, ``GET /v1/accounts/{id}``,
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
from distillguard.service.schemas import FeedbackIn, RequestError, parse_events
from distillguard.service.state import StateStore


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def create_app(settings: Settings, store: StateStore | None = None) -> FastAPI:
    """Build the app. ``store`` replaces the configured state store (tests inject slow ones)."""
    cfg = settings.service
    guard = Guard(cfg, store)

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

    async def events(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            size = request.headers.get("content-length")
            if size is not None and (not size.isdigit() or int(size) > cfg.max_body_bytes):
                raise RequestError(413, f"body larger than {cfg.max_body_bytes:,} bytes")
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > cfg.max_body_bytes:
                    raise RequestError(413, f"body larger than {cfg.max_body_bytes:,} bytes")
            evs, batch = parse_events(body, cfg.max_batch, cfg.max_prompt_chars)
            out = await guard.process(evs)
        except RequestError as e:
            m.requests[("/v1/events", e.status)] += 1
            return _json({"error": e.message}, e.status)
        m.requests[("/v1/events", 200)] += 1
        resp = _json({"decisions": out} if batch else out[0])
        m.observe(time.perf_counter() - t0)
        return resp

    app.add_route("/v1/events", events, methods=["POST"])

    @app.get("/v1/accounts/{account_id}")
    async def account(account_id: str) -> Response:
        view = await guard.account(account_id)
        m.requests[("/v1/accounts", 200 if view else 404)] += 1
        if view is None:
            return _json({"error": f"account {account_id!r} has not been seen"}, 404)
        return _json(view)

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
