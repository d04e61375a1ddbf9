#!/usr/bin/env python
"""Hub throughput: POST, paged pull and aggregation over real HTTP on 127.0.0.1.

Starts the consortium hub under uvicorn (SQLite, WAL, synchronous=FULL) with three
members, has them POST ``--indicators`` indicators each in envelopes of ``--batch``
objects (every object validated by stix2-validator and policy-checked), then pulls the
whole collection with the official taxii2-client in pages of 1,000, and times
/hub/indicators (corroboration over every stored version) and /hub/metrics.
Then tokenises ``--oprf-n`` identifiers (default 100k) through the hub's RFC 9497 OPRF
endpoint, as a member matching its own IPs would, and reports the cost per identifier and
per 100k (plus the in-process split: blind, hub evaluation, finalize + proof check).
Writes bench/results/hub.json.

    .venv/bin/python bench/bench_hub.py                      # 3 x 1,000 indicators
    .venv/bin/python bench/bench_hub.py --indicators 500     # quick

Timings on the shared 2-core machine are contended: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import hashlib
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from taxii2client.v21 import Collection, as_pages

from distillguard.hub.app import create_app
from distillguard.hub.auth import hash_password, parse_rights
from distillguard.hub.settings import DEFAULT_COLLECTION, HubSettings
from distillguard.hub.storage import Member, SQLiteStorage
from distillguard.intel import vocab

COL = DEFAULT_COLLECTION.id
TAXII = "application/taxii+json;version=2.1"
AMBER = vocab.TLP2_IDS["amber"]


def _indicator(identity: str, kind: str, secret: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    key_id = "oprf-bench" if kind in ("email", "payment", "ip", "subnet") else "k1"
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": now,
            "modified": now, "created_by_ref": identity, "name": f"{kind} artefact",
            "pattern": f"[{vocab.CLIENT_SCO_TYPE}:{vocab.KIND_PROPERTY[kind]} = '{key_id}:{digest}']",
            "pattern_type": "stix", "valid_from": now, "valid_until": "2099-01-01T00:00:00.000Z", "confidence": 70,
            "object_marking_refs": [AMBER], vocab.PROP_KIND: kind, vocab.PROP_CATEGORY: "confirmed"}


def _oprf_bench(base: str, n: int) -> dict[str, Any]:
    """Cost of RFC 9497 tokens: n distinct identifiers, member side + hub, over HTTP."""
    from voprf import ristretto

    from distillguard.intel.oprf import MAX_BATCH, HubTransport, OprfClient, new_key, oprf_input

    inputs = [oprf_input("ip", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(n)]
    client = OprfClient(HubTransport(base, user="a", password="pw"))
    t0 = time.perf_counter()
    client.tokens(inputs)
    total = time.perf_counter() - t0
    # the parts, in process (one batch of up to 10k): blind, evaluate (the hub's share), finalize
    ev = new_key().evaluator()
    sample = inputs[:MAX_BATCH]
    t0 = time.perf_counter()
    blinded = [ristretto.Client.blind(x) for x in sample]
    t1 = time.perf_counter()
    out = ev.evaluate_batch([b for _, b in blinded])
    t2 = time.perf_counter()
    ristretto.Client.finalize_batch([c for c, _ in blinded], out, ev.public_key)
    t3 = time.perf_counter()
    k = len(sample)
    return {"identifiers": n, "over_http_s": round(total, 2),
            "us_per_identifier": round(total / n * 1e6, 1), "s_per_100k": round(total / n * 1e5, 2),
            "in_process_us_per_identifier": {"blind": round((t1 - t0) / k * 1e6, 1),
                                             "hub_evaluate": round((t2 - t1) / k * 1e6, 1),
                                             "finalize_and_verify": round((t3 - t2) / k * 1e6, 1)},
            "bytes_per_identifier_on_the_wire": "32 up + 32 down (base64 in JSON: ~44 each) + one 64-byte proof per batch"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--indicators", type=int, default=1000, help="indicators per member")
    ap.add_argument("--batch", type=int, default=500, help="objects per POST")
    ap.add_argument("--validation-workers", type=int, default=1,
                    help="hub.validation_workers (default 1: in the server process)")
    ap.add_argument("--oprf-n", type=int, default=100_000, help="identifiers to tokenise through /hub/oprf (0: skip)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "hub.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dg-hub-bench-"))
    store = SQLiteStorage(tmp / "hub.sqlite")
    members = []
    for name in ("a", "b", "c"):
        ident = f"identity--{uuid.uuid5(uuid.NAMESPACE_DNS, name)}"
        store.save_member(Member(name, ident, parse_rights(["*"], ["*"]), password_hash=hash_password("pw")))
        members.append((name, ident))
    settings = HubSettings.model_validate({"database": str(tmp / "hub.sqlite"), "allow_insecure_http": True,
                                           "rate_limit_per_minute": 10**6, "rate_limit_burst": 10**6,
                                           "max_content_length": 50_000_000, "oprf_quota_per_day": 10**9,
                                           "validation_workers": args.validation_workers})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, storage=store), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {"indicators_per_member": args.indicators, "batch": args.batch, "members": 3,
                               "validation_workers": settings.validation_workers,
                               "cpus": os.cpu_count()}
    try:
        t0 = time.perf_counter()
        posted = 0
        for name, ident in members:
            # half of each member's artefacts are shared with the next member (corroboration work)
            secrets = [f"{name}-{i}" if i % 2 else f"shared-{i}" for i in range(args.indicators)]
            objs = [_indicator(ident, ("email", "payment", "ip")[i % 3], sec) for i, sec in enumerate(secrets)]
            with httpx.Client(base_url=base, auth=(name, "pw"), timeout=300) as http:
                for i in range(0, len(objs), args.batch):
                    body = json.dumps({"objects": [vocab.tlp2_marking("amber"), *objs[i:i + args.batch]]})
                    r = http.post(f"/consortium/collections/{COL}/objects/", content=body,
                                  headers={"Content-Type": TAXII, "Accept": TAXII})
                    r.raise_for_status()
                    assert r.json()["failure_count"] == 0, r.json()["failures"][:2]
                    posted += len(objs[i:i + args.batch])
        post_s = time.perf_counter() - t0
        results["post_objects_per_s"] = round(posted / post_s, 1)
        col = Collection(f"{base}/consortium/collections/{COL}/", user="a", password="pw")
        t0 = time.perf_counter()
        pulled = sum(len(p.get("objects", [])) for p in as_pages(col.get_objects, per_request=1000))
        pull_s = time.perf_counter() - t0
        results["pull_objects"] = pulled
        results["pull_objects_per_s"] = round(pulled / pull_s, 1)
        with httpx.Client(base_url=base, auth=("a", "pw"), timeout=300, headers={"Accept": "application/json"}) as h:
            t0 = time.perf_counter()
            rows = h.get("/hub/indicators").json()["indicators"]
            results["aggregate_s"] = round(time.perf_counter() - t0, 3)
            results["patterns"] = len(rows)
            results["corroborated"] = sum(r["status"] == "corroborated" for r in rows)
            t0 = time.perf_counter()
            h.get("/hub/metrics").raise_for_status()
            results["metrics_s"] = round(time.perf_counter() - t0, 3)
        if args.oprf_n:
            results["oprf"] = _oprf_bench(base, args.oprf_n)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    results["note"] = "shared 2-core machine, contended; SQLite WAL synchronous=FULL; validation+policy per object"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
