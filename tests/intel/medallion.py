"""Standard software on 127.0.0.1: OASIS medallion (TAXII 2.1 server, memory backend)."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

MEDALLION_COLLECTION = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4"
USERS = {"provider-a": "pw-a", "provider-b": "pw-b", "provider-c": "pw-c"}


_APP: list[object] = []  # medallion's Flask app is a module-level singleton: load it once


class Medallion:
    def __init__(self, tmp: Path) -> None:
        pytest.importorskip("medallion")
        from werkzeug.serving import make_server

        app = self.reset(tmp)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.col_url = f"{self.url}/consortium/collections/{MEDALLION_COLLECTION}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.identities = {n: f"identity--{uuid.uuid5(uuid.NAMESPACE_DNS, n)}" for n in USERS}

    @staticmethod
    def reset(tmp: Path):  # type: ignore[no-untyped-def]
        """A fresh, empty memory backend (and the app, loaded on first use)."""
        import medallion

        data = tmp / "medallion-data.json"
        data.write_text(json.dumps({
            "/discovery": {"title": "medallion interop", "api_roots": []},
            "consortium": {
                "information": {"title": "consortium", "versions": ["application/taxii+json;version=2.1"],
                                "max_content_length": 1_000_000},
                "status": [],
                "collections": [{"id": MEDALLION_COLLECTION, "title": "campaigns", "can_read": True,
                                 "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                                 "objects": [], "manifest": []}],
            },
        }))
        cfg = tmp / "medallion.json"
        cfg.write_text(json.dumps({"users": USERS, "taxii": {"max_page_size": 100},
                                   "backend": {"module": "medallion.backends.memory_backend",
                                               "module_class": "MemoryBackend", "filename": str(data)}}))
        if not _APP:
            _APP.append(medallion.load_app(str(cfg)))
        else:
            conf = json.loads(cfg.read_text())
            medallion.set_config(_APP[0], "backend", conf)
        return _APP[0]

    def endpoint(self, name: str):  # type: ignore[no-untyped-def]
        from distillguard.intel.taxii import Endpoint

        return Endpoint(self.col_url, user=name, password=USERS[name])

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)

