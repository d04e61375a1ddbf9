"""Our client against OASIS medallion 3.0.0 (installed from PyPI) on 127.0.0.1.

Push, checkpointed pull, retraction and dispute all go through a standard TAXII 2.1 server
nobody here wrote. medallion reads an object's ``version`` property as its TAXII version,
so a collection holding our extension-definition fails every pull with 500: the test shows
the bug and the workaround (``push(..., omit_types=STANDARD_SERVER_OMIT)``, ``intel push
--standard-server``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from distillguard.errors import InputError
from distillguard.intel.audit import AuditLog
from distillguard.intel.policy import load_policy
from distillguard.intel.stix import false_positive_opinion, revoke, wrap
from distillguard.intel.store import IntelStore
from distillguard.intel.taxii import STANDARD_SERVER_OMIT, pull, push

from .medallion import Medallion

pytest.importorskip("medallion")


@pytest.fixture(scope="module")
def med(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Medallion]:
    m = Medallion(tmp_path_factory.mktemp("medallion"))
    yield m
    m.stop()


def _as(bundle: dict[str, Any], identity: str) -> dict[str, Any]:
    """The bundle as member ``identity`` would have exported it."""
    import json

    old = next(o["id"] for o in bundle["objects"] if o["type"] == "identity" and o.get("name") == "provider-a")
    return json.loads(json.dumps(bundle).replace(old, identity))


def test_push_pull_retract_dispute_through_medallion(tmp_path: Path, med: Medallion,
                                                     bundle_a: dict[str, Any]) -> None:
    policy = load_policy()
    bundle = _as(bundle_a, med.identities["provider-a"])
    res = push(bundle, med.endpoint("provider-a"), policy, AuditLog(tmp_path / "audit"), omit_types=STANDARD_SERVER_OMIT)
    n = len([o for o in bundle["objects"] if o["type"] != "extension-definition"])
    assert res.failure == 0 and res.success == n, res.failures

    store_b = IntelStore(tmp_path / "b")
    first = pull(med.endpoint("provider-b"), store_b)
    assert first.fetched == n and first.checkpoint
    inds = store_b.indicators()
    assert len(inds) == sum(o["type"] == "indicator" for o in bundle["objects"])
    assert {i.source_org for i in inds} == {"provider-a"}

    time.sleep(1.1)  # medallion's added_after has second resolution
    ind = next(o for o in bundle["objects"] if o["type"] == "indicator")
    push(wrap([revoke(ind)], "provider-a", identity_id=med.identities["provider-a"]), med.endpoint("provider-a"),
         policy, AuditLog(tmp_path / "audit"), omit_types=STANDARD_SERVER_OMIT)
    other = next(o for o in bundle["objects"] if o["type"] == "indicator" and o["id"] != ind["id"])
    fp = wrap([false_positive_opinion(other["id"], "provider-c", identity_id=med.identities["provider-c"])],
              "provider-c", identity_id=med.identities["provider-c"])
    push(fp, med.endpoint("provider-c"), policy, AuditLog(tmp_path / "audit-c"), omit_types=STANDARD_SERVER_OMIT)
    later = pull(med.endpoint("provider-b"), store_b)
    assert ind["id"] in later.delta.retracted and other["id"] in later.delta.disputed
    view = {i.id: i for i in store_b.indicators()}
    assert view[ind["id"]].revoked and view[other["id"]].disputed


def test_medallion_extension_definition_bug_is_real(tmp_path: Path, med: Medallion,
                                                    bundle_a: dict[str, Any]) -> None:
    """Without the workaround medallion breaks: this is why --standard-server exists."""
    med.reset(tmp_path)  # a fresh collection (the app is medallion's singleton)
    bundle = _as(bundle_a, med.identities["provider-a"])
    push(bundle, med.endpoint("provider-a"), load_policy(), AuditLog(tmp_path / "audit"))
    with pytest.raises(InputError, match="500|pull failed"):
        pull(med.endpoint("provider-b"), IntelStore(tmp_path / "b"))


def test_probe4_forged_revocation_through_a_standard_server_is_refused_with_signatures(
        tmp_path: Path, med: Medallion, bundle_a: dict[str, Any]) -> None:
    """medallion checks nothing: B posts a revocation of A's indicator carrying A's
    created_by_ref. Members that pin A's Ed25519 key refuse it; A's own signed
    retraction still goes through."""
    from distillguard.intel.signing import SigningKey, sign_bundle

    med.reset(tmp_path)
    policy = load_policy()
    key_a = SigningKey.load(tmp_path / "a.key", create=True)
    ident_a = med.identities["provider-a"]
    bundle = sign_bundle(_as(bundle_a, ident_a), key_a, ident_a)
    push(bundle, med.endpoint("provider-a"), policy, AuditLog(tmp_path / "audit-a"), omit_types=STANDARD_SERVER_OMIT)
    trusted = {ident_a: key_a.public_b64()}
    store_c = IntelStore(tmp_path / "c", trusted_keys=trusted)
    pull(med.endpoint("provider-c"), store_c)
    assert len(store_c.indicators()) == sum(o["type"] == "indicator" for o in bundle["objects"])

    time.sleep(1.1)
    ind = next(o for o in bundle["objects"] if o["type"] == "indicator")
    forged = revoke({k: v for k, v in ind.items() if k != "x_distillguard_signature"})  # A's created_by_ref
    push(wrap([forged], "provider-a", identity_id=ident_a), med.endpoint("provider-b"), policy,
         AuditLog(tmp_path / "audit-b"), omit_types=STANDARD_SERVER_OMIT)
    got = pull(med.endpoint("provider-c"), store_c)
    assert not got.delta.retracted and any(ind["id"] in r and "signature" in r for r in got.delta.refused)
    assert not {i.id: i for i in store_c.indicators()}[ind["id"]].revoked
    # without pinned keys the forgery would have been believed (what issue 10 observed)
    naive = IntelStore(tmp_path / "naive")
    pull(med.endpoint("provider-c"), naive, full=True)
    assert {i.id: i for i in naive.indicators()}[ind["id"]].revoked

    time.sleep(1.1)
    genuine = key_a.sign(revoke(forged))
    push(wrap([genuine], "provider-a", identity_id=ident_a), med.endpoint("provider-a"), policy,
         AuditLog(tmp_path / "audit-a"), omit_types=STANDARD_SERVER_OMIT)
    assert ind["id"] in pull(med.endpoint("provider-c"), store_c).delta.retracted
