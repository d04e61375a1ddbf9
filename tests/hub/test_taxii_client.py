"""Interop: the unmodified official taxii2-client drives the hub over real HTTP."""

from __future__ import annotations

import time

from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from taxii2client.common import TokenAuth

from .hubkit import COL, HubServer, client, envelope, identity, indicator


def _collection(server: HubServer, creds) -> Collection:  # type: ignore[no-untyped-def]
    srv = Server(f"{server.url}/taxii2/", user=creds.name, password=creds.password)
    assert srv.title == "distillguard consortium hub"
    assert srv.default is not None and srv.default.url == f"{server.url}/consortium/"
    root: ApiRoot = srv.api_roots[0]
    assert root.versions == ["application/taxii+json;version=2.1"]
    assert root.max_content_length == 200_000
    cols = root.collections
    assert [c.id for c in cols] == [COL]
    return cols[0]


def test_discovery_add_get_and_status(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    col = _collection(server, m["alpha"])
    assert col.can_read and col.can_write
    ind = indicator(m["alpha"], "payment", "card-1")
    status = col.add_objects(envelope(identity(m["alpha"]), ind))
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (3, 3, 0)
    assert {s["id"] for s in status.successes} >= {ind["id"], m["alpha"].identity}
    # the status resource is also served at the API root (section 4.3)
    root = ApiRoot(f"{server.url}/consortium/", user="alpha", password=m["alpha"].password)
    again = root.get_status(status.id)
    assert again.success_count == 3
    got = col.get_objects(type="indicator")
    assert [o["id"] for o in got["objects"]] == [ind["id"]]
    one = col.get_object(ind["id"])
    assert one["objects"][0]["pattern"] == ind["pattern"]
    manifest = col.get_manifest()
    assert {e["id"] for e in manifest["objects"]} == {o["id"] for o in envelope(identity(m["alpha"]), ind)["objects"]}
    assert all(e["media_type"] == "application/stix+json;version=2.1" for e in manifest["objects"])


def test_paging_limit_next_and_filters(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    col = _collection(server, m["beta"])
    inds = [indicator(m["beta"], "email", f"e{i}") for i in range(7)]
    col.add_objects(envelope(identity(m["beta"]), *inds[:4]))
    with client(server, m["beta"]) as http:
        r = http.get(f"/consortium/collections/{COL}/objects/")
        last = r.headers["X-TAXII-Date-Added-Last"]
        assert r.headers["X-TAXII-Date-Added-First"] <= last
    time.sleep(0.01)
    col.add_objects({"objects": inds[4:]})
    pages = list(as_pages(col.get_objects, per_request=2, type="indicator"))
    assert [len(p.get("objects", [])) for p in pages] == [2, 2, 2, 1]
    assert [o["id"] for p in pages for o in p["objects"]] == [i["id"] for i in inds]
    assert all(p["more"] for p in pages[:-1]) and not pages[-1]["more"]
    # added_after returns only what came after the first POST
    newer = col.get_objects(added_after=last)
    assert [o["id"] for o in newer["objects"]] == [i["id"] for i in inds[4:]]
    # match[id] (several), match[type], match[spec_version]
    two = col.get_objects(id=[inds[0]["id"], inds[5]["id"]])
    assert {o["id"] for o in two["objects"]} == {inds[0]["id"], inds[5]["id"]}
    assert col.get_objects(type="campaign") == {"more": False}
    assert len(col.get_objects(type="indicator", spec_version="2.1")["objects"]) == 7
    # manifest pages the same way
    mpages = list(as_pages(col.get_manifest, per_request=3, type="indicator"))
    assert sum(len(p.get("objects", [])) for p in mpages) == 7


def test_versions_and_match_version(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    col = _collection(server, m["alpha"])
    v1 = indicator(m["alpha"], "ip", "10.0.0.1")
    v2 = dict(v1, modified="2026-01-05T00:00:00.000Z", confidence=90)
    col.add_objects(envelope(v1))
    col.add_objects(envelope(v2))
    versions = col.object_versions(v1["id"])["versions"]
    assert versions == ["2026-01-01T00:00:00.000000Z", "2026-01-05T00:00:00.000000Z"]
    assert col.get_object(v1["id"])["objects"][0]["confidence"] == 90  # last by default
    assert col.get_object(v1["id"], version="first")["objects"][0]["confidence"] == 80
    assert len(col.get_object(v1["id"], version="all")["objects"]) == 2
    exact = col.get_objects(version="2026-01-01T00:00:00Z")
    assert [o["confidence"] for o in exact["objects"] if o["type"] == "indicator"] == [80]


def test_token_auth_with_official_client(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    col = Collection(f"{server.url}/consortium/collections/{COL}/", auth=TokenAuth(m["gamma"].token))
    assert col.can_write
    status = col.add_objects(envelope(indicator(m["gamma"], "client", "curl/8")))
    assert status.success_count == 2
    with client(server) as http:
        r = http.get("/taxii2/", headers={"Authorization": f"Bearer {m['gamma'].token}"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/taxii+json;version=2.1"
