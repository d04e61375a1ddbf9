"""Request size and rate limits: a member (or a stranger) cannot exhaust the hub.

* ``BodyLimitMiddleware`` answers 413 before reading a body whose Content-Length is too
  large, and stops reading a chunked body the moment it passes the limit; the limit is
  advertised to clients as the API root's ``max_content_length``.
* ``RateLimiter`` is a token bucket per key (the member name once authenticated, the
  client address before that, so password guessing is throttled too); over the limit
  the hub answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"


def taxii_error_body(status: int, title: str, description: str) -> bytes:
    """A TAXII 2.1 error message resource."""
    return json.dumps({"title": title, "description": description, "http_status": str(status)}).encode()


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """ASGI middleware that refuses request bodies above ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send)
                return
        seen = 0
        started = False
        tripped = False

        async def limited_receive() -> Message:
            nonlocal seen, tripped
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    tripped = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:  # _TooLarge, possibly wrapped in an ExceptionGroup by inner middleware
            if not tripped:
                raise
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = taxii_error_body(413, "Request entity too large",
                                f"the request body exceeds max_content_length ({self.max_bytes} bytes)")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", TAXII_MEDIA_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """Token bucket per key: ``per_minute`` sustained, ``burst`` at once. Thread-safe."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Take one token for ``key``; returns 0 if allowed, else seconds until one is free."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle strangers rather than grow forever
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}
            return max(0.001, (1.0 - tokens) / self.rate)

    def waiting(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 if it has one now); takes nothing."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1.0 else max(0.001, (1.0 - tokens) / self.rate)

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
