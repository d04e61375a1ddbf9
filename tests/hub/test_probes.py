"""Issue 10's attacker probes against a real hub on 127.0.0.1: each fails on the old hub.

#2 read-only members, #3 rotation beats the login cache, #5 squatting, #10 spoofed
X-Forwarded-Proto, #11 odd inputs give 400, #12 identity names pinned, #13 scrypt after
the rate limit. (#1 OPRF is in test_oprf.py, #4 owner-only versions here and in
tests/intel, #6 the policy guard in tests/intel/test_policy.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.hub import auth
from distillguard.hub.app import create_app, uvicorn_options
from distillguard.hub.storage import Member, SQLiteStorage
from distillguard.testing.server import ThreadedServer

from .hubkit import COL, HubServer, add_member, client, envelope, hub_settings, identity, indicator

OBJECTS = f"/consortium/collections/{COL}/objects/"
TAXII = "application/taxii+json;version=2.1"


def post(http: httpx.Client, body: object) -> httpx.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.post(OBJECTS, content=data, headers={"Content-Type": TAXII})


def test_probe2_read_only_member_from_the_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndatabase = "{tmp_path / "hub.sqlite"}"\nallow_insecure_http = true\n')
    runner = CliRunner()
    r = runner.invoke(app, ["hub", "add-member", "ro", "--config", str(cfg), "--read", "*"])
    assert r.exit_code == 0, r.output
    secrets = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    store = SQLiteStorage(tmp_path / "hub.sqlite")
    m = store.get_member(name="ro")
    assert m is not None and m.rights == {"*": "r"} and not m.can(COL, "w")
    server = HubServer(hub_settings(tmp_path / "hub.sqlite"), storage=store)
    try:
        with httpx.Client(base_url=server.url, auth=("ro", secrets["password"]), headers={"Accept": TAXII}) as http:
            assert http.get(OBJECTS).status_code == 200
            r = post(http, envelope(indicator(add_member(store, "x", [], []), "email", "a")))
            assert r.status_code == 403 and "may not write" in r.json()["description"]
            cols = http.get("/consortium/collections/").json()["collections"]
            assert cols[0]["can_write"] is False
    finally:
        server.stop()
        store.close()
    # --write alone: write-only, no read
    r = runner.invoke(app, ["hub", "add-member", "wo", "--config", str(cfg), "--write", COL])
    store = SQLiteStorage(tmp_path / "hub.sqlite")
    try:
        assert store.get_member(name="wo").rights == {COL: "w"}  # type: ignore[union-attr]
    finally:
        store.close()


def test_probe3_rotated_password_and_revoked_rights_act_on_the_next_request(hub) -> None:  # type: ignore[no-untyped-def]
    server, storage, m = hub
    a = m["alpha"]
    with client(server, a) as http:
        assert http.get(OBJECTS).status_code == 200  # now cached
        assert http.get(OBJECTS).status_code == 200
        old = storage.get_member(name="alpha")
        storage.save_member(Member(name="alpha", identity_id=a.identity, rights=old.rights,
                                   password_hash=auth.hash_password("rotated-password"), token_hash=old.token_hash))
        r = http.get(OBJECTS)
        assert r.status_code == 401, "the old password outlived its rotation through the login cache"
        assert http.get(OBJECTS, auth=("alpha", "rotated-password")).status_code == 200
        # revoking a right: the next request is refused
        storage.save_member(Member(name="alpha", identity_id=a.identity, rights={},
                                   password_hash=auth.hash_password("rotated-password")))
        assert http.get(OBJECTS, auth=("alpha", "rotated-password")).status_code == 403


def test_probe5_and_4_squatting_and_foreign_versions_across_collections(tmp_path: Path) -> None:
    """B posts A's (future) indicator id, revoked, into another collection: refused, and A's
    genuine object is still accepted in the first."""
    other = "2d7c9a44-1a7e-4f0b-9a1e-3c0b8f6d5e21"
    settings = hub_settings(tmp_path / "h.sqlite", collections=[
        {"id": COL, "title": "main"}, {"id": other, "title": "second"}])
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    a = add_member(storage, "alpha", ["*"], ["*"])
    b = add_member(storage, "beta", ["*"], ["*"])
    server = HubServer(settings, storage=storage)
    try:
        genuine = indicator(a, "email", "mine")
        with client(server, a) as http:
            assert post(http, envelope(genuine)).json()["success_count"] == 2
        forged = dict(genuine, created_by_ref=b.identity, revoked=True, modified="2026-01-05T00:00:00.000Z")
        squat = indicator(b, "email", "squat")
        with client(server, b) as http:
            st = http.post(f"/consortium/collections/{other}/objects/", content=json.dumps(envelope(forged)),
                           headers={"Content-Type": TAXII}).json()
            assert [f["id"] for f in st["failures"]] == [genuine["id"]]
            assert "only the organisation that created" in st["failures"][0]["message"]
            assert post(http, envelope(squat)).json()["success_count"] == 2
        # the squatter's id now belongs to beta everywhere: alpha cannot take it over in the other collection
        stolen = dict(squat, created_by_ref=a.identity)
        with client(server, a) as http:
            st = http.post(f"/consortium/collections/{other}/objects/", content=json.dumps(envelope(stolen)),
                           headers={"Content-Type": TAXII}).json()
            assert st["failure_count"] == 1
    finally:
        server.stop()
        storage.close()


def test_probe10_spoofed_forwarded_proto_is_ignored(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    a = add_member(storage, "alpha", [COL], [COL])
    settings = hub_settings(tmp_path / "h.sqlite", allow_insecure_http=False)
    srv = ThreadedServer(create_app(settings, storage=storage), **uvicorn_options(settings))
    try:
        with httpx.Client(base_url=srv.url, auth=(a.name, a.password), headers={"Accept": TAXII}) as http:
            r = http.get("/taxii2/", headers={"X-Forwarded-Proto": "https"})
            assert r.status_code == 401 and "plain HTTP" in r.json()["description"]
    finally:
        srv.stop()
    trusted = hub_settings(tmp_path / "h.sqlite", allow_insecure_http=False, forwarded_allow_ips="127.0.0.1")
    srv = ThreadedServer(create_app(trusted, storage=storage), **uvicorn_options(trusted))
    try:
        with httpx.Client(base_url=srv.url, auth=(a.name, a.password), headers={"Accept": TAXII}) as http:
            assert http.get("/taxii2/", headers={"X-Forwarded-Proto": "https"}).status_code == 200
    finally:
        srv.stop()
        storage.close()


@pytest.mark.parametrize("query", [
    {"next": "9" * 40}, {"next": "١٢٣"}, {"added_after": "0001-01-01T00:00:00+05:00"},
    {"added_after": "9999-12-31T23:59:59-05:00"}, {"match[version]": "0001-01-01T00:30:00+01:00"},
    {"limit": "1e9"},
])
def test_probe11_odd_queries_are_400(hub, query: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    with client(server, m["alpha"]) as http:
        r = http.get(OBJECTS, params=query)
        assert r.status_code == 400, (query, r.status_code, r.text)
        assert http.get(OBJECTS).status_code == 200


def test_probe11_deeply_nested_bodies_are_400(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    with client(server, m["alpha"]) as http:
        deep = '{"objects": [' + '{"a":' * 5000 + "1" + "}" * 5000 + "]}"
        r = post(http, deep)
        assert r.status_code == 400, r.text
        middling = '{"objects": [' + '{"a":' * 200 + "1" + "}" * 200 + "]}"
        assert post(http, middling).status_code == 400
        r = http.post("/hub/oprf/evaluate", content="[" * 10000, headers={"Accept": "application/json"})
        assert r.status_code == 400
        assert http.get(OBJECTS).status_code == 200


def test_probe12_identity_name_is_pinned_to_the_member(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a = m["alpha"]
    impostor = dict(identity(a), name="beta", modified="2026-01-03T00:00:00.000Z")
    with client(server, a) as http:
        st = post(http, envelope(impostor)).json()
        assert st["failure_count"] == 1 and "pinned" in st["failures"][0]["message"]
        assert post(http, envelope(identity(a))).json()["failure_count"] == 0


def test_probe13_failed_logins_are_throttled_before_scrypt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = auth.verify_password

    def counting(password: str, stored: str | None) -> bool:
        calls.append(1)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)  # a spy: the real scrypt still runs
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    add_member(storage, "alpha", [COL], [COL])
    server = HubServer(hub_settings(tmp_path / "h.sqlite", rate_limit_per_minute=60, rate_limit_burst=3),
                       storage=storage)
    try:
        with httpx.Client(base_url=server.url, headers={"Accept": TAXII}) as http:
            codes = [http.get("/taxii2/", auth=("alpha", f"wrong{i}")).status_code for i in range(10)]
        assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}
        assert len(calls) == 3, f"scrypt ran {len(calls)} times for 10 failed logins over a burst of 3"
    finally:
        server.stop()
        storage.close()


def test_validation_in_worker_processes_gives_the_same_verdicts() -> None:
    import copy

    from distillguard.hub.validation import Validation
    from .hubkit import MemberCreds

    who = MemberCreds("alpha", "x", "y", "identity--2b7e2a0c-9d3f-4e8a-b6c1-0f1e2d3c4b5a")
    objs = [indicator(who, ("email", "ip", "client")[i % 3], f"s{i}") for i in range(120)]
    bad = copy.deepcopy(objs[:6])
    bad[0]["pattern"] = "[nope"
    del bad[1]["valid_from"]
    bad[2]["created"] = "yesterday"
    bad[3] = "not an object"  # type: ignore[assignment]
    bad[4]["id"] = 7
    bad[5]["confidence"] = 101
    mixed = objs + bad
    pool = Validation(2)
    try:
        assert pool.errors(mixed) == Validation(1).errors(mixed)
        assert sum(bool(e) for e in pool.errors(mixed)) == 6
    finally:
        pool.close()
