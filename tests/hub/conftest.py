"""Fixture: a hub served by uvicorn on 127.0.0.1 with five members (three writers, a reader, an outsider)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from distillguard.hub.storage import SQLiteStorage

from .hubkit import COL, HubServer, MemberCreds, add_member, hub_settings


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[tuple[HubServer, SQLiteStorage, dict[str, MemberCreds]]]:
    storage = SQLiteStorage(tmp_path / "hub.sqlite")
    members = {
        "alpha": add_member(storage, "alpha", [COL], [COL]),
        "beta": add_member(storage, "beta", [COL], [COL]),
        "gamma": add_member(storage, "gamma", [COL], [COL]),
        "reader": add_member(storage, "reader", [COL], []),
        "outsider": add_member(storage, "outsider", [], []),
    }
    server = HubServer(hub_settings(tmp_path / "hub.sqlite"), storage=storage)
    yield server, storage, members
    server.stop()
    storage.close()


