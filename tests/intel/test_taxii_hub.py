"""Push/pull against the real consortium hub (distillguard.hub) over HTTP on 127.0.0.1.

Uses the unmodified official taxii2-client underneath. Covers: policy refusal before
anything is sent, audit of what was sent, checkpointed incremental pulls, retractions
reaching another member on its next pull, and poisoning (one member's indicators that hit
another provider's innocent customers never block).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from distillguard.errors import PolicyViolation
from distillguard.intel.artefacts import connect
from distillguard.intel.audit import AuditLog
from distillguard.intel.export import export_campaigns
from distillguard.intel.match import match
from distillguard.intel.policy import load_policy
from distillguard.intel.stix import CampaignIntel, ExportOptions, build_bundle, revoke
from distillguard.intel.artefacts import Artefact
from distillguard.intel.store import IntelStore
from distillguard.intel.taxii import Endpoint, pull, push
from distillguard.intel.trust import decide
from distillguard.findings import Campaign
from distillguard.testing.server import ThreadedServer

from . import world

hub_app = pytest.importorskip("distillguard.hub.app")
uvicorn = pytest.importorskip("uvicorn")




class _Hub:
    def __init__(self, db: Path) -> None:
        from distillguard.hub.auth import hash_password, parse_rights
        from distillguard.hub.settings import DEFAULT_COLLECTION, HubSettings
        from distillguard.hub.storage import Member, SQLiteStorage

        settings = HubSettings.model_validate({"database": str(db), "allow_insecure_http": True,
                                               "rate_limit_per_minute": 100_000, "rate_limit_burst": 10_000})
        self.storage = SQLiteStorage(db)
        self.members: dict[str, tuple[str, str]] = {}
        for name in ("provider-a", "provider-b", "provider-c"):
            ident = f"identity--{uuid.uuid4()}"
            self.storage.save_member(Member(name=name, identity_id=ident, rights=parse_rights(["*"], ["*"]),
                                            password_hash=hash_password(f"pw-{name}")))
            self.members[name] = (ident, f"pw-{name}")
        self.srv = ThreadedServer(hub_app.create_app(settings, storage=self.storage))
        self.col_url = f"{self.srv.url}/{settings.api_root}/collections/{DEFAULT_COLLECTION.id}/"

    def oprf(self, name: str) -> Any:
        from distillguard.intel.oprf import HubTransport, OprfClient

        return OprfClient(HubTransport(self.srv.url, user=name, password=self.members[name][1]))

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(self.col_url, user=name, password=self.members[name][1])

    def identity(self, name: str) -> str:
        return self.members[name][0]

    def stop(self) -> None:
        self.srv.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Hub]:
    h = _Hub(tmp_path_factory.mktemp("hub") / "hub.sqlite")
    yield h
    h.stop()


def _export(worlds: dict[str, Any], hub: _Hub) -> dict[str, Any]:
    bundle, rep = export_campaigns(worlds["findings_a"], ["c1"], worlds["a"]["events"], worlds["a"]["accounts"],
                                   world.keyring(), ExportOptions(org="provider-a", identity_id=hub.identity("provider-a")),
                                   load_policy(), oprf=hub.oprf("provider-a"))
    assert not rep.policy_issues and not rep.stix_errors
    return bundle


def test_share_pull_match_retract(tmp_path: Path, hub: _Hub, worlds: dict[str, Any]) -> None:
    policy = load_policy()
    audit = AuditLog(tmp_path / "audit")
    bundle = _export(worlds, hub)

    # a bundle with a raw email is refused before anything is sent (and nothing is logged as sent)
    bad = json.loads(json.dumps(bundle))
    next(o for o in bad["objects"] if o["type"] == "indicator")["name"] = "john.doe@gmail.com"
    with pytest.raises(PolicyViolation):
        push(bad, hub.endpoint("provider-a"), policy, audit)
    assert audit.entries() == []

    res = push(bundle, hub.endpoint("provider-a"), policy, audit)
    assert res.failure == 0 and res.success > 0, res.failures
    assert audit.verify().entries == 1
    assert audit.entries()[0]["destination"] == hub.col_url

    store_b = IntelStore(tmp_path / "b-state")
    first = pull(hub.endpoint("provider-b"), store_b)
    assert first.fetched > 0 and first.checkpoint
    assert store_b.checkpoint(hub.col_url) == first.checkpoint
    again = pull(hub.endpoint("provider-b"), store_b)
    assert again.delta.new == 0  # checkpointed: nothing new

    con = connect(worlds["b"]["events"], worlds["b"]["accounts"])
    m = match(store_b.indicators(), con, world.keyring(), oprf=hub.oprf("provider-b"))
    d = {r["account_id"]: r for r in decide(m).to_pylist()}
    assert d["b-atk-0"]["action"] == "review"  # one member: review, never act alone

    # A retracts every indicator; B sees it on its next pull and its matches say so
    time.sleep(0.01)
    retraction = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                  "objects": [o for o in bundle["objects"] if o["type"] in ("marking-definition", "extension-definition", "identity")]
                  + [revoke(o) for o in bundle["objects"] if o["type"] == "indicator"]}
    push(retraction, hub.endpoint("provider-a"), policy, audit)
    assert audit.verify().entries == 2
    later = pull(hub.endpoint("provider-b"), store_b)
    assert later.delta.retracted
    m2 = match(store_b.indicators(), con, world.keyring(), oprf=hub.oprf("provider-b"))
    d2 = {r["account_id"]: r for r in decide(m2).to_pylist()}
    assert d2["b-atk-0"]["action"] == "none" and d2["b-atk-0"]["retracted"]


def test_poisoning_never_blocks_an_innocent(tmp_path: Path, hub: _Hub, worlds: dict[str, Any]) -> None:
    """Member C shares 'confirmed' indicators that are really B's innocent customer's card and email."""
    victim_email, victim_card = "person1@b.example", "fp_b_user_1"
    c_oprf = hub.oprf("provider-c")  # C asks the key holder for B's customer's tokens: one audited evaluation each
    arts = [Artefact("email", world.token("email", victim_email, c_oprf), 1, None, None),
            Artefact("payment", world.token("payment", victim_card, c_oprf), 1, None, None)]
    camp = Campaign(id="poison", account_ids=["x"], score=1.0, first_seen=None, last_seen=None, request_count=1)
    poison = build_bundle([CampaignIntel(camp, arts)],
                          ExportOptions(org="provider-c", identity_id=hub.identity("provider-c")))
    push(poison, hub.endpoint("provider-c"), load_policy(), AuditLog(tmp_path / "audit-c"))
    store_b = IntelStore(tmp_path / "b2")
    pull(hub.endpoint("provider-b"), store_b)
    con = connect(worlds["b"]["events"], worlds["b"]["accounts"])
    d = {r["account_id"]: r for r in decide(match(store_b.indicators(), con, world.keyring(), oprf=hub.oprf("provider-b"))).to_pylist()}
    assert d["b-user-1"]["action"] == "review" and d["b-user-1"]["score"] < 0.8  # review only: never blocks
    assert all(r["action"] != "throttle" for r in d.values())


def _big_bundle(hub: _Hub, n: int) -> dict[str, Any]:
    arts = [Artefact("client", f"k1:{i:064x}", 2, None, None) for i in range(n)]
    camp = Campaign(id="big", account_ids=["x"], score=0.9, first_seen=None, last_seen=None, request_count=1)
    return build_bundle([CampaignIntel(camp, arts)],
                        ExportOptions(org="provider-a", identity_id=hub.identity("provider-a")))


def test_probe7_push_splits_to_fit_max_content_length_and_resumes(tmp_path: Path, hub: _Hub) -> None:
    from distillguard.hub.limits import RateLimiter
    from distillguard.hub.settings import HubSettings

    bundle = _big_bundle(hub, 150)
    size = len(json.dumps({"objects": bundle["objects"]}))
    limit = size // 4
    # a stricter hub on the same database: 1/4 of the bundle per request, few requests allowed
    strict = HubSettings.model_validate({"database": str(tmp_path / "unused.sqlite"), "allow_insecure_http": True,
                                         "max_content_length": limit, "rate_limit_per_minute": 1,
                                         "rate_limit_burst": 4})
    app = hub_app.create_app(strict, storage=hub.storage)
    srv = ThreadedServer(app)
    url = f"{srv.url}/{strict.api_root}/collections/{hub.col_url.rsplit('/collections/', 1)[1]}"
    ep = Endpoint(url, user="provider-a", password=hub.members["provider-a"][1])
    audit = AuditLog(tmp_path / "audit")
    try:
        with pytest.raises(Exception, match="resume"):
            push(bundle, ep, load_policy(), audit)  # a few envelopes get through, then 429
        sent = [e for e in audit.entries() if e["action"] == "push"]
        assert 1 <= len(sent) < 4 and all(e["payload_bytes"] <= limit for e in sent)
        assert audit.entries()[-1]["action"] == "push-failed"
        app.state.hub.limiter = RateLimiter(100_000, 10_000)  # the operator lifts the limit
        res = push(bundle, ep, load_policy(), audit)  # the rerun sends only what was not accepted
        assert res.failure == 0 and res.skipped > 0 and res.envelopes >= 1
        assert res.skipped + res.success >= len(bundle["objects"])
        again = push(bundle, ep, load_policy(), audit)
        assert again.envelopes == 0 and again.skipped == len(bundle["objects"]) - 4  # markings/identities aside
    finally:
        srv.stop()
    stored = {o.id for o in hub.storage.iter_objects()}
    assert {o["id"] for o in bundle["objects"]} <= stored
    audit.verify()
