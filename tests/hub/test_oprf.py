"""The hub as OPRF key holder over real HTTP: blind evaluation, quota, audit, rotation."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.errors import InputError
from distillguard.hub.storage import SQLiteStorage
from distillguard.intel.oprf import HubTransport, OprfClient

from .hubkit import COL, HubServer, add_member, hub_settings

JSON = {"Accept": "application/json"}


def test_members_get_equal_tokens_blind_and_every_evaluation_is_audited(hub) -> None:  # type: ignore[no-untyped-def]
    server, storage, m = hub
    a = OprfClient(HubTransport(server.url, user="alpha", password=m["alpha"].password))
    b = OprfClient(HubTransport(server.url, token=m["beta"].token))
    ta = a.tokens([b"distillguard/ip\x0010.1.2.3", b"distillguard/ip\x0010.1.2.4"])
    tb = b.tokens([b"distillguard/ip\x0010.1.2.3"])
    assert ta[b"distillguard/ip\x0010.1.2.3"] == tb[b"distillguard/ip\x0010.1.2.3"]
    assert ta[b"distillguard/ip\x0010.1.2.3"].startswith(a.current + ":")
    usage = {u[0]: u for u in storage.oprf_usage()}
    assert usage["alpha"][3] == 2 and usage["beta"][3] == 1
    with httpx.Client(base_url=server.url, auth=("alpha", m["alpha"].password), headers=JSON) as http:
        mine = http.get("/hub/oprf/usage").json()["members"]
        assert [u["member"] for u in mine] == ["alpha"] and mine[0]["evaluations"] == 2  # only itself
        keys = http.get("/hub/oprf/keys").json()
        assert keys["suite"] == "ristretto255-SHA512" and keys["rfc"] == 9497 and "seed" not in str(keys)
        # hostile or broken requests are 400s
        for body in ({"blinded": ["not base64!"]}, {"blinded": [base64.b64encode(b"\xff" * 32).decode()]},
                     {"blinded": "x"}, {"key_id": "oprf-nope", "blinded": [base64.b64encode(b"\x00" * 32).decode()]}):
            r = http.post("/hub/oprf/evaluate", json=body)
            assert r.status_code == 400, (body, r.text)
        assert http.post("/hub/oprf/evaluate", json={"blinded": []}).status_code == 400
    with httpx.Client(base_url=server.url, headers=JSON) as anon:
        assert anon.post("/hub/oprf/evaluate", json={"blinded": []}).status_code == 401
    with httpx.Client(base_url=server.url, auth=("outsider", m["outsider"].password), headers=JSON) as out:
        assert out.post("/hub/oprf/evaluate", json={"blinded": ["AAAA"]}).status_code == 403


def test_quota_per_member_answers_429(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "h.sqlite")
    a = add_member(storage, "alpha", [COL], [COL])
    server = HubServer(hub_settings(tmp_path / "h.sqlite", oprf_quota_per_day=5), storage=storage)
    try:
        client = OprfClient(HubTransport(server.url, user="alpha", password=a.password))
        client.tokens([bytes([i]) for i in range(4)])
        with pytest.raises(InputError, match="429.*of 5 evaluations"):
            client.tokens([bytes([i]) for i in range(10, 12)])
        client.tokens([b"\x20"])  # exactly at the quota is fine
    finally:
        server.stop()
        storage.close()


def test_cli_rotation_and_end_to_end_export_and_match_through_the_hub(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from intel import world  # tests/intel (pytest puts tests/ on sys.path)
    from distillguard.intel.hashing import keyring_toml

    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndatabase = "{tmp_path / "hub.sqlite"}"\nallow_insecure_http = true\n')
    runner = CliRunner()
    assert runner.invoke(app, ["hub", "init", "--config", str(cfg)]).exit_code == 0
    storage = SQLiteStorage(tmp_path / "hub.sqlite")
    first = [k.id for k in storage.oprf_keys()]
    assert len(first) == 1
    creds = {n: add_member(storage, n, [COL], [COL]) for n in ("provider-a", "provider-b")}
    server = HubServer(hub_settings(tmp_path / "hub.sqlite"), storage=storage)
    try:
        root = tmp_path / "w"
        wa = world.provider("a", root / "a", world.TEMPLATE_A, "John.Doe+distill@gmail.com", "203.0.113")
        wb = world.provider("b", root / "b", world.TEMPLATE_B, "johndoe@googlemail.com", "203.0.113")
        fa = world.findings_for("a", root / "a")
        kr = tmp_path / "keyring.toml"
        kr.write_text(keyring_toml("k1", {"k1": world.SECRET_K1}))
        (tmp_path / "confirmed.txt").write_text("c1\n")
        monkeypatch.setenv("DISTILLGUARD_TAXII_PASSWORD", creds["provider-a"].password)
        bundle = tmp_path / "bundle.json"
        r = runner.invoke(app, ["intel", "export", str(fa), "--confirmed", str(tmp_path / "confirmed.txt"),
                                "--events", str(wa["events"]), "--accounts", str(wa["accounts"]),
                                "--keyring", str(kr), "--org", "provider-a", "--out", str(bundle),
                                "--oprf", server.url, "--user", "provider-a", "--id-key", str(tmp_path / "id.key")])
        assert r.exit_code == 0, r.output
        flat = " ".join(r.output.split())
        assert "10 indicator(s)" in flat and "payment=1" in flat and "subnet=1" in flat, flat
        assert (tmp_path / "id.key").stat().st_mode & 0o777 == 0o600
        # B matches through the same key holder, with its own credentials
        from distillguard.intel.store import IntelStore
        import json

        st = IntelStore(tmp_path / "state")
        st.ingest(json.loads(bundle.read_text())["objects"])
        st.save()
        # rotate: new exports use the new key, old tokens still match
        r = runner.invoke(app, ["hub", "oprf-rotate", "--config", str(cfg)])
        assert r.exit_code == 0 and "public_key=" in r.stdout
        monkeypatch.setenv("DISTILLGUARD_TAXII_PASSWORD", creds["provider-b"].password)
        m = tmp_path / "matches.parquet"
        r = runner.invoke(app, ["intel", "match", "--state", str(tmp_path / "state"), "--events", str(wb["events"]),
                                "--accounts", str(wb["accounts"]), "--keyring", str(kr), "--out", str(m),
                                "--oprf", server.url, "--user", "provider-b"])
        assert r.exit_code == 0, r.output
        import pyarrow.parquet as pq

        kinds = {(x["account_id"], x["kind"]) for x in pq.read_table(m).to_pylist()}
        assert ("b-atk-0", "email") in kinds and ("b-atk-0", "payment") in kinds
        r = runner.invoke(app, ["hub", "oprf-usage", "--config", str(cfg)])
        assert "provider-a" in r.stdout and "provider-b" in r.stdout
    finally:
        server.stop()
        storage.close()
