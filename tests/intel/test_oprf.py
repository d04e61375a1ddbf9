"""Issue 10 probe 1: shared IPs, subnets, e-mails and cards cannot be reversed by another member.

The old scheme (HMAC under a key every member holds) fell to enumeration: the whole IPv4
/24 space is 16.7M HMACs. Now those kinds are RFC 9497 OPRF tokens: without the key
holder a guess cannot be tested at all, and with it each guess is one counted evaluation.
"""

from __future__ import annotations

from typing import Any

import pytest

from distillguard.errors import InputError
from distillguard.intel.hashing import all_digests, keyed_digest, normalise
from distillguard.intel.oprf import (KeyHolder, LocalTransport, OprfClient, OprfKey, new_key, oprf_input)
from distillguard.intel.policy import check_bundle, load_policy
from distillguard.intel.store import pattern_value

from . import world

LOW = ("email", "payment", "ip", "subnet")


def _shared(bundle: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for o in bundle["objects"]:
        if o["type"] == "indicator":
            kind, value = pattern_value(o["pattern"])  # type: ignore[misc]
            out.setdefault(kind, set()).add(value)
    return out


def test_probe1_the_consortium_keyring_no_longer_reverses_anything(bundle_a: dict[str, Any]) -> None:
    shared = _shared(bundle_a)
    assert all(shared.get(k) for k in ("email", "payment", "ip", "subnet")), shared
    assert all(v.startswith("oprf-") for k in LOW for v in shared[k])
    kr = world.keyring()  # what every member holds
    # the attack that used to work: every address of the attacker's /24 and the subnet itself
    guesses_ip = [f"203.0.113.{i}" for i in range(256)]
    hmac_ip = {d for g in guesses_ip for d in all_digests(kr, "ip", g)}
    hmac_subnet = {d for d in all_digests(kr, "subnet", "203.0.113.0")}
    hmac_email = set(all_digests(kr, "email", "John.Doe+distill@gmail.com"))
    hmac_card = set(all_digests(kr, "payment", world.CARD))
    assert not (hmac_ip | hmac_subnet) & (shared["ip"] | shared["subnet"])
    assert not hmac_email & shared["email"] and not hmac_card & shared["payment"]


def test_probe1_with_the_key_holder_each_guess_is_one_counted_evaluation(bundle_a: dict[str, Any]) -> None:
    shared = _shared(bundle_a)
    transport = LocalTransport(world.OPRF_HOLDER)
    client = OprfClient(transport)
    guesses = [f"203.0.113.{i}" for i in range(256)]
    tokens = client.tokens([oprf_input("ip", normalise("ip", g) or "") for g in guesses])
    assert set(tokens.values()) & shared["ip"]  # the member *can* test guesses, but only through the holder
    assert transport.evaluations == 256  # one evaluation per guess (the hub counts and audits them)


def test_equal_inputs_equal_tokens_across_members_and_nothing_else() -> None:
    a, b = world.oprf(), world.oprf()  # two members, independent blinding
    assert a.token("email", "johndoe@gmail.com") == b.token("email", "johndoe@gmail.com")
    assert a.token("email", "johndoe@gmail.com") != a.token("email", "janedoe@gmail.com")
    assert a.token("ip", "10.0.0.1") != a.token("subnet", "10.0.0.1")  # kinds are domain-separated
    other = OprfClient(LocalTransport(KeyHolder([new_key("oprf-other")])))
    assert other.token("email", "johndoe@gmail.com").split(":")[1] != a.token("email", "johndoe@gmail.com").split(":")[1]


def test_rfc9497_test_vector() -> None:
    """ristretto255-SHA512 VOPRF mode, RFC 9497 appendix A.1.2, test vector 1 (input 00)."""
    from voprf import ristretto

    ev = ristretto.Evaluator.from_seed(bytes([0xA3] * 32), b"test key")
    assert ev.evaluate_known_input(b"\x00").hex().startswith("b58cfbe118e0cb94d79b5fd6a6dafb98")


def test_a_key_holder_answering_under_another_key_is_caught() -> None:
    honest = world.OPRF_HOLDER
    pinned = honest.public_keys()
    evil = KeyHolder([OprfKey("oprf-test1", b"\x44" * 32, "2026-01-01T00:00:00.000000Z")])
    with pytest.raises(InputError, match="pinned"):
        OprfClient(LocalTransport(evil), pinned=pinned)

    class Swapping(LocalTransport):  # publishes the honest key, evaluates under another
        def keys(self):  # type: ignore[no-untyped-def]
            return honest.current, honest.public_keys()

    with pytest.raises(InputError, match="proof"):
        OprfClient(Swapping(evil)).token("ip", "10.0.0.1")


def test_rotation_old_tokens_still_match_until_retired() -> None:
    old = OprfKey("oprf-a", b"\x01" * 32, "2026-01-01T00:00:00.000000Z", retired="2999-01-01T00:00:00.000000Z")
    new = OprfKey("oprf-b", b"\x02" * 32, "2026-06-01T00:00:00.000000Z")
    before = OprfClient(LocalTransport(KeyHolder([old]))).token("email", "x@y.example")
    after = OprfClient(LocalTransport(KeyHolder([old, new])))
    assert after.current == "oprf-b" and after.key_ids == ["oprf-b", "oprf-a"]
    assert after.token("email", "x@y.example", "oprf-a") == before
    gone = KeyHolder([OprfKey("oprf-a", b"\x01" * 32, old.created, retired="2026-02-01T00:00:00.000000Z"), new])
    assert OprfClient(LocalTransport(gone)).key_ids == ["oprf-b"]
    with pytest.raises(InputError, match="retired"):
        gone.evaluate("oprf-a", [b"\x00" * 32])


def test_policy_refuses_shared_key_hmacs_of_low_entropy_kinds(bundle_a: dict[str, Any]) -> None:
    import copy

    b = copy.deepcopy(bundle_a)
    ind = next(o for o in b["objects"] if o["type"] == "indicator" and o["x_distillguard_kind"] == "ip")
    ind["pattern"] = f"[x-llm-api-client:ip_hmac = '{keyed_digest(world.keyring().current_key, 'ip', '10.0.0.1')}']"
    assert "pattern-reversible" in {i.code for i in check_bundle(b, load_policy())}


def test_token_cache_across_runs_saves_evaluations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = str(tmp_path / "oprf-cache.sqlite")
    t1 = LocalTransport(world.OPRF_HOLDER)
    first = OprfClient(t1, cache_path=cache)
    a = first.tokens([b"x1", b"x2"])
    first.close()
    t2 = LocalTransport(world.OPRF_HOLDER)
    second = OprfClient(t2, cache_path=cache)
    b = second.tokens([b"x1", b"x2", b"x3"])
    second.close()
    assert {k: b[k] for k in a} == a and t2.evaluations == 1  # only the new value was asked for
    assert b"x1" not in (tmp_path / "oprf-cache.sqlite").read_bytes()  # inputs are stored hashed
