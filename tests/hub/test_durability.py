"""Durability: nothing accepted is lost across restarts; the optional PostgreSQL store behaves the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from taxii2client.v21 import Collection

from distillguard.hub.storage import ObjectQuery, SQLiteStorage, Storage
from distillguard.testing.server import free_port

from .hubkit import COL, HubServer, add_member, envelope, hub_settings, identity, indicator, opinion


def test_restart_keeps_objects_statuses_and_members(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    storage = SQLiteStorage(db)
    a = add_member(storage, "alpha", [COL], [COL])
    storage.close()
    first = HubServer(hub_settings(db))  # the app opens (and on shutdown closes) its own storage
    col = Collection(f"{first.url}/consortium/collections/{COL}/", user=a.name, password=a.password)
    inds = [indicator(a, "email", f"e{i}") for i in range(5)]
    status = col.add_objects(envelope(identity(a), *inds))
    before = col.get_objects()
    first.stop()  # a restart: a new app and a new connection on the same file
    second = HubServer(hub_settings(db))
    try:
        col = Collection(f"{second.url}/consortium/collections/{COL}/", user=a.name, password=a.password)
        assert col.get_objects() == before
        root_status = col.add_objects(envelope(opinion(a, [inds[0]["id"]], "agree")))
        assert root_status.success_count == 2
        from taxii2client.v21 import ApiRoot

        root = ApiRoot(f"{second.url}/consortium/", user=a.name, password=a.password)
        assert root.get_status(status.id).success_count == 7
        assert len(col.get_objects()["objects"]) == 8
    finally:
        second.stop()




@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway local PostgreSQL, or skip (needs psycopg, initdb/pg_ctl and a non-root user)."""
    pytest.importorskip("psycopg")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries not installed")
    base = Path(tempfile.mkdtemp(prefix="dg-hub-pg-"))  # not under pytest's 0700 root-owned tree
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use the postgres account if present
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres account")
        if not runuser:
            pytest.skip("runuser not available")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    port = free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "hub", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, timeout=90)
    except (subprocess.SubprocessError, OSError) as e:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a local PostgreSQL: {e}")
    try:
        yield f"postgresql://hub@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _exercise(store: Storage) -> None:
    from .hubkit import MemberCreds

    a = MemberCreds("a", "pw", "tok", "identity--7f1f0d6a-3c1e-4c55-9f0a-1b2c3d4e5f60")
    v1 = indicator(a, "email", "x")
    v2 = dict(v1, modified="2026-01-05T00:00:00.000Z", revoked=True)
    d1, fresh = store.add_objects(COL, "a", [v1, indicator(a, "ip", "y")])
    assert fresh == [True, True]
    time.sleep(0.001)
    d2, fresh = store.add_objects(COL, "a", [v2, v1])
    assert fresh == [True, False] and d2 > d1
    last, more = store.query(ObjectQuery(COL, types=["indicator"], limit=1))
    assert more and len(last) == 1
    page2, more = store.query(ObjectQuery(COL, types=["indicator"], after_seq=last[0].seq, limit=1))
    assert not more and page2[0].id != last[0].id
    newer, _ = store.query(ObjectQuery(COL, added_after=d1))
    assert [(o.id, o.body.get("revoked")) for o in newer] == [(v1["id"], True)]
    every, _ = store.query(ObjectQuery(COL, ids=[v1["id"]], versions=["all"]))
    assert [o.version for o in every] == ["2026-01-01T00:00:00.000000Z", "2026-01-05T00:00:00.000000Z"]
    store.save_status({"id": "s1", "x": 1}, "a")
    assert store.load_status("s1") == ({"id": "s1", "x": 1}, "a")


def test_sqlite_storage_contract(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "s.sqlite")
    try:
        _exercise(store)
    finally:
        store.close()


def test_postgres_storage_contract(postgres_url: str) -> None:
    from distillguard.hub.storage import PostgresStorage, open_storage

    store = open_storage(postgres_url)
    assert isinstance(store, PostgresStorage)
    try:
        _exercise(store)
    finally:
        store.close()
    again = PostgresStorage(postgres_url)  # reopening keeps what was committed
    try:
        assert again.load_status("s1") is not None
    finally:
        again.close()
