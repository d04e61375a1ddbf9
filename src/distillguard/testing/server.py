"""Serve an ASGI app (the hub, the guard) on 127.0.0.1 in a background thread.

Tests and benchmarks talk to the real server over real HTTP, never to a mock; this is
the one place that knows how to start and stop uvicorn for them.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread; ``stop()`` shuts it down
    gracefully (lifespan shutdown runs, so apps flush their state)."""

    def __init__(self, app: Any, *, ssl: tuple[str, str] | None = None, start_timeout_s: float = 20.0,
                 **config: Any) -> None:
        self.port = free_port()
        self.url = f"{'https' if ssl else 'http'}://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on",
                             **{"log_level": "warning", **config},
                             ssl_certfile=ssl[0] if ssl else None, ssl_keyfile=ssl[1] if ssl else None)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "ThreadedServer":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def wait_until_healthy(url: str, timeout_s: float = 30.0) -> bool:
    """Poll ``url`` + ``/healthz`` until it answers (a server started as a subprocess)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False
