"""Security: authentication, rights, policy, attribution, malformed input, size and rate limits, TLS."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from distillguard.hub.storage import SQLiteStorage

from .hubkit import (COL, HubServer, add_member, client, envelope, hub_settings, identity, indicator,
                     opinion)

OBJECTS = f"/consortium/collections/{COL}/objects/"
TAXII = "application/taxii+json;version=2.1"


def post(http: httpx.Client, body: object, **kw: object) -> httpx.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Content-Type": TAXII, **kw.pop("headers", {})}  # type: ignore[dict-item]
    return http.post(OBJECTS, content=data, headers=headers, **kw)  # type: ignore[arg-type]


def test_authentication_and_rights(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    with client(server) as anon:
        r = anon.get("/taxii2/")
        assert r.status_code == 401 and r.json()["http_status"] == "401"
        assert "Basic" in r.headers["WWW-Authenticate"]
        assert anon.get("/taxii2/", auth=("alpha", "wrong")).status_code == 401
        assert anon.get("/taxii2/", headers={"Authorization": "Bearer nope"}).status_code == 401
    with client(server, m["outsider"]) as out:
        assert out.get(f"/consortium/collections/{COL}/").status_code == 403
        r = out.get(OBJECTS)
        assert r.status_code == 403 and "no access" in r.json()["description"]
        assert post(out, envelope(indicator(m["outsider"], "email", "x"))).status_code == 403
        assert out.get("/consortium/collections/").json() == {}
    with client(server, m["reader"]) as reader:
        assert reader.get(OBJECTS).status_code == 200
        r = post(reader, envelope(indicator(m["reader"], "email", "x")))
        assert r.status_code == 403 and "may not write" in r.json()["description"]
    with client(server, m["alpha"]) as alpha:
        r = post(alpha, envelope(indicator(m["alpha"], "email", "x")))
        status_id = r.json()["id"]
        assert alpha.get(f"/consortium/status/{status_id}/").status_code == 200
    with client(server, m["beta"]) as beta:  # statuses are private to their poster
        assert beta.get(f"/consortium/status/{status_id}/").status_code == 404
        assert beta.get("/consortium/collections/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_policy_refuses_raw_pii_and_prompts(hub) -> None:  # type: ignore[no-untyped-def]
    server, storage, m = hub
    a = m["alpha"]
    leaky = indicator(a, "email", "x")
    leaky["name"] = "account of jane.doe@example.com"
    prompt = indicator(a, "template", "t")
    prompt["name"] = ("You are a helpful assistant. Solve the following problem step by step and explain "
                      "your reasoning in detail before giving the final answer to the user please")
    raw_pattern = indicator(a, "ip", "x")
    raw_pattern["pattern"] = "[ipv4-addr:value = '203.0.113.7']"
    good = indicator(a, "payment", "card")
    with client(server, a) as http:
        r = post(http, envelope(leaky, prompt, raw_pattern, good))
        assert r.status_code == 202
        st = r.json()
    failed = {f["id"]: f["message"] for f in st["failures"]}
    assert set(failed) == {leaky["id"], prompt["id"], raw_pattern["id"]}
    assert "pii" in failed[leaky["id"]].lower() or "email" in failed[leaky["id"]].lower()
    assert {s["id"] for s in st["successes"]} >= {good["id"]}
    stored = {o.id for o in storage.iter_objects()}
    assert good["id"] in stored and not stored & set(failed)


def test_invalid_stix_and_attribution_are_failures_not_errors(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a, b = m["alpha"], m["beta"]
    broken = {"type": "indicator", "id": "indicator--not-a-uuid", "pattern": "[", "spec_version": "2.1"}
    spoofed = indicator(b, "email", "innocent")  # alpha posting in beta's name
    other_identity = identity(b)
    mine = indicator(a, "email", "mine")
    with client(server, a) as http:
        st = post(http, envelope(broken, spoofed, other_identity, mine, 42)).json()  # type: ignore[arg-type]
    failed = {f["id"]: f["message"] for f in st["failures"]}
    assert "invalid STIX" in failed["indicator--not-a-uuid"]
    assert "not the posting member's identity" in failed[spoofed["id"]]
    assert "own identity" in failed[b.identity]
    assert "objects[5]" in failed
    assert st["success_count"] == 2 and st["total_count"] == 6
    # beta may not revoke alpha's indicator, alpha may
    with client(server, b) as http:
        hijack = dict(mine, created_by_ref=b.identity, modified="2026-02-01T00:00:00.000Z", revoked=True)
        st = post(http, envelope(hijack)).json()
        assert "only the organisation that created" in st["failures"][0]["message"]
    with client(server, a) as http:
        st = post(http, envelope(dict(mine, modified="2026-02-01T00:00:00.000Z", revoked=True))).json()
        assert st["failure_count"] == 0


def test_malformed_and_oversized_requests_get_4xx_and_hub_keeps_serving(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    with client(server, m["alpha"]) as http:
        r = post(http, b"{not json")
        assert r.status_code == 400 and r.json()["title"] == "Malformed JSON"
        assert post(http, b"\xff\xfe garbage").status_code == 400
        assert post(http, {"type": "bundle"}).status_code == 400
        assert post(http, [1, 2]).status_code == 400
        r = post(http, envelope(), headers={"Content-Type": "application/json"})
        assert r.status_code == 415
        assert http.get(OBJECTS, headers={"Accept": "text/html"}).status_code == 406
        assert http.get(OBJECTS, headers={"Accept": "application/taxii+json;version=2.0"}).status_code == 406
        assert http.get(OBJECTS, params={"added_after": "yesterday"}).status_code == 400
        assert http.get(OBJECTS, params={"limit": "-3"}).status_code == 400
        assert http.get(OBJECTS, params={"next": "abc"}).status_code == 400
        assert http.delete(OBJECTS).status_code == 405
        big = envelope(*[indicator(m["alpha"], "email", f"x{i}") for i in range(400)])
        r = post(http, big)
        assert r.status_code == 413 and r.headers["content-type"] == TAXII

        def chunks():  # no Content-Length: the limit applies while streaming
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 16_384):
                yield payload[i:i + 16_384]

        r = http.post(OBJECTS, content=chunks(), headers={"Content-Type": TAXII})
        assert r.status_code == 413
    with client(server, m["alpha"]) as http:  # still serving
        r = http.get("/taxii2/")
        assert r.status_code == 200 and r.json()["title"]
        assert post(http, envelope(indicator(m["alpha"], "email", "ok"))).json()["success_count"] == 2


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    a = add_member(storage, "alpha", [COL], [COL])
    server = HubServer(hub_settings(tmp_path / "h.sqlite", rate_limit_per_minute=60, rate_limit_burst=5),
                       storage=storage)
    try:
        with client(server, a) as http:
            codes = [http.get("/taxii2/").status_code for _ in range(8)]
            assert codes[:5] == [200] * 5 and codes[-1] == 429
            r = http.get("/taxii2/")
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        with client(server) as anon:  # password guessing is throttled per address too
            codes = [anon.get("/taxii2/", auth=("alpha", f"guess{i}")).status_code for i in range(8)]
            assert codes[:5] == [401] * 5 and 429 in codes
    finally:
        server.stop()
        storage.close()


def test_credentials_refused_over_plain_http_unless_allowed(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    a = add_member(storage, "alpha", [COL], [COL])
    server = HubServer(hub_settings(tmp_path / "h.sqlite", allow_insecure_http=False), storage=storage)
    try:
        with client(server, a) as http:
            r = http.get("/taxii2/")
            assert r.status_code == 401 and "plain HTTP" in r.json()["description"]
    finally:
        server.stop()
    if shutil.which("openssl") is None:
        storage.close()
        pytest.skip("openssl not available to make a test certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server = HubServer(hub_settings(tmp_path / "h.sqlite", allow_insecure_http=False), storage=storage,
                       ssl=(str(cert), str(key)))
    try:
        with httpx.Client(base_url=server.url, auth=(a.name, a.password), verify=ssl.create_default_context(cafile=str(cert)), timeout=20,
                          headers={"Accept": TAXII}) as http:
            assert server.url.startswith("https://")
            assert http.get("/taxii2/").status_code == 200
            r = http.post(OBJECTS, content=json.dumps(envelope(opinion(a, [f"indicator--{'0' * 8}-0000-4000-8000-{'0' * 12}"]))),
                          headers={"Content-Type": TAXII})
            assert r.status_code == 202
    finally:
        server.stop()
        storage.close()
