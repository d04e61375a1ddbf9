"""`distillguard replay` streams a log in time order into a real server and summarises actions."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.service.replay import replay

from .conftest import thread_server
from .worlds import chat_user, harvester


def test_replay_log_into_server(tmp_path: Path) -> None:
    evs = harvester("h", 600) + chat_user("u", 40)
    evs.sort(key=lambda e: -e["ts"])  # out of order on disk: replay sorts by ts
    f = tmp_path / "events.jsonl"
    from datetime import datetime, timezone
    f.write_text("\n".join(json.dumps(e | {"ts": datetime.fromtimestamp(e["ts"], timezone.utc).isoformat()}) for e in evs))
    with thread_server([f"service.state_path='{tmp_path / 's.db'}'"]) as c:
        s = replay(f, str(c.base_url), batch=50)
        assert s.events == 640 and s.errors == 0
        assert "h" in s.first_action and "u" not in s.first_action
        r = CliRunner().invoke(app, ["replay", str(f), "--to", str(c.base_url), "--batch", "100"])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["replay", str(f), "--to", "http://127.0.0.1:9"])
    assert r.exit_code == 2 and "cannot reach" in r.output
