"""Real servers on 127.0.0.1: uvicorn in a thread (fast) or `distillguard serve` in a subprocess (kill tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.config import load_config
from distillguard.service.app import create_app
from distillguard.service.state import StateStore
from distillguard.testing.server import ThreadedServer, free_port

from .worlds import T0  # noqa: F401  (re-exported for tests)

ADMIN_TOKEN = "test-admin-token-0123456789"  # service.admin_token for /v1/feedback and /v1/admin/*
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}




@contextmanager
def thread_server(overrides: list[str], store: StateStore | None = None) -> Iterator[httpx.Client]:
    """Run the app in a uvicorn thread; yields a client; shuts down gracefully (flush)."""
    settings = load_config(None, [f"service.admin_token='{ADMIN_TOKEN}'", *overrides])
    app = create_app(settings, store=store)
    srv = ThreadedServer(app, log_level="error", loop="asyncio", http="h11")
    client = httpx.Client(base_url=srv.url, timeout=10, headers=ADMIN)
    try:
        yield client
    finally:
        client.close()
        srv.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[httpx.Client]:
    with thread_server([f"service.state_path='{tmp_path / 'state.db'}'", "service.flush_interval_s=0.2"]) as c:
        yield c


class Proc:
    """`distillguard serve` as a subprocess."""

    def __init__(self, overrides: list[str]) -> None:
        self.port = free_port()
        args = [sys.executable, "-c", "from distillguard.cli import main; main()", "serve", "--port", str(self.port)]
        for o in [f"service.admin_token='{ADMIN_TOKEN}'", *overrides]:
            args += ["--set", o]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.log = tempfile.TemporaryFile()
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.p.poll() is not None or time.time() > deadline:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")
                raise RuntimeError(f"serve did not start: {err[-2000:]}")
            time.sleep(0.1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, headers=ADMIN)

    def kill(self) -> None:
        self.p.kill()
        self.p.wait(10)
        self.log.close()

    def terminate(self) -> Any:
        self.p.terminate()
        rc = self.p.wait(20)
        self.log.close()
        return rc
