"""The `distillguard hub` commands on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.hub.auth import authenticate
from distillguard.hub.storage import SQLiteStorage

from .hubkit import COL


def test_init_add_member_and_list(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndatabase = "{tmp_path / "hub.sqlite"}"\nallow_insecure_http = true\n')
    runner = CliRunner()
    r = runner.invoke(app, ["hub", "init", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["hub", "add-member", "acme", "--config", str(cfg), "--read", "*", "--write", COL,
                            "--identity", "identity--2b7e2a0c-9d3f-4e8a-b6c1-0f1e2d3c4b5a"])
    assert r.exit_code == 0, r.output
    secrets = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    store = SQLiteStorage(tmp_path / "hub.sqlite")
    try:
        import base64

        basic = "Basic " + base64.b64encode(f"acme:{secrets['password']}".encode()).decode()
        m = authenticate(store, basic, secure=True, allow_insecure=False)
        assert m.identity_id == "identity--2b7e2a0c-9d3f-4e8a-b6c1-0f1e2d3c4b5a"
        assert m.can(COL, "r") and m.can(COL, "w") and m.can("other", "r") and not m.can("other", "w")
        assert authenticate(store, f"Bearer {secrets['token']}", secure=True, allow_insecure=False).name == "acme"
        assert store.get_member(name="acme").password_hash != secrets["password"]  # type: ignore[union-attr]
    finally:
        store.close()
    r = runner.invoke(app, ["hub", "members", "--config", str(cfg)])
    assert r.exit_code == 0 and "acme" in r.stdout and secrets["token"] not in r.stdout
    r = runner.invoke(app, ["hub", "add-member", "bad", "--config", str(cfg), "--read", "no-such-collection"])
    assert r.exit_code == 2 and "unknown collection" in " ".join(r.output.split())
    r = runner.invoke(app, ["hub", "serve", "--config", str(cfg), "--ssl-certfile", str(tmp_path / "missing.pem"),
                            "--ssl-keyfile", str(tmp_path / "missing.key")])
    assert r.exit_code == 2 and "does not exist" in " ".join(r.output.split())
