"""Fixtures: the console world, a fresh case store, users, a real console and a real guard on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.config import load_config
from distillguard.console import auth, decisions
from distillguard.console.app import create_app
from distillguard.console.importer import import_findings
from distillguard.console.store import CaseStore
from distillguard.service.app import create_app as create_guard
from distillguard.testing.server import ThreadedServer

from . import world

PASSWORD = "correct horse battery staple"
ADMIN_TOKEN = "console-test-admin-token-0123"


@pytest.fixture(scope="session")
def acme(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return world.build(tmp_path_factory.mktemp("acme"))


@pytest.fixture
def store(tmp_path: Path, acme: dict[str, Path]) -> Iterator[CaseStore]:
    s = CaseStore(tmp_path / "cases.sqlite")
    import_findings(s, acme["findings"])
    for name, role in (("ana", "analyst"), ("rev", "reviewer"), ("comp", "compliance")):
        auth.add_user(s, name, role, PASSWORD)
    yield s
    s.close()


def case_id(store: CaseStore, ref: str) -> int:
    c = store.find(ref)
    assert c is not None, ref
    return c.id


@pytest.fixture
def guard() -> Iterator[str]:
    """The real guard (distillguard serve's app) in a uvicorn thread; yields its URL."""
    settings = load_config(None, [f"service.admin_token='{ADMIN_TOKEN}'", "service.state_path=':memory:'"])
    srv = ThreadedServer(create_guard(settings), log_level="error", loop="asyncio", http="h11")
    try:
        yield srv.url
    finally:
        srv.stop()


class Console:
    """The console app served on 127.0.0.1, and helpers to log in as a user over real HTTP."""

    def __init__(self, store: CaseStore, cfg: decisions.Settings) -> None:
        self.store, self.cfg = store, cfg
        self.srv = ThreadedServer(create_app(store, cfg, deliver_every_s=0.2), log_level="error", loop="asyncio",
                                  http="h11")
        self.url = self.srv.url
        self.clients: list[httpx.Client] = []

    def client(self, user: str | None = None) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=20, follow_redirects=False)
        self.clients.append(c)
        if user:
            r = c.get("/login")
            pre = re.search(r'name="csrf" value="([^"]+)"', r.text)
            assert pre is not None
            r = c.post("/login", data={"csrf": pre.group(1), "user": user, "password": PASSWORD, "next": "/cases"})
            assert r.status_code == 303, r.text
        return c

    @staticmethod
    def csrf(c: httpx.Client) -> str:
        r = c.get("/cases")
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert m is not None
        return m.group(1)

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.srv.stop()


@pytest.fixture
def console(store: CaseStore, tmp_path: Path) -> Iterator[Console]:
    c = Console(store, decisions.Settings(retractions_dir=tmp_path / "retractions"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def console_with_guard(store: CaseStore, tmp_path: Path, guard: str) -> Iterator[tuple[Console, str]]:
    c = Console(store, decisions.Settings(guard_url=guard, guard_token=ADMIN_TOKEN,
                                          retractions_dir=tmp_path / "retractions"))
    try:
        yield c, guard
    finally:
        c.stop()


def guard_event(guard_url: str, account: str, n: int) -> dict[str, Any]:
    """Send one event for ``account`` to the guard and return its decision."""
    ev = {"request_id": f"probe-{account}-{n}", "ts": f"2026-03-02T00:{n % 60:02d}:00Z", "account_id": account,
          "prompt": f"hello number {n}", "response": "hi", "ip": "198.18.9.9", "user_agent": "Mozilla/5.0 app"}
    r = httpx.post(f"{guard_url}/v1/events", json=ev, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    return dict(body["decisions"][0] if "decisions" in body else body)


def guard_account(guard_url: str, account: str) -> dict[str, Any]:
    r = httpx.get(f"{guard_url}/v1/accounts/{account}", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())
