"""Normalisation, keyed digests with rotation, keyed template sketches."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from distillguard.errors import ConfigError
from distillguard.intel.hashing import all_digests, digest, keyring_toml, normalise, parse_keyring
from distillguard.intel.sketch import Sketch, sketch, skeleton
from . import world


@pytest.mark.parametrize("kind,a,b", [
    ("email", "John.Doe+distill@gmail.com", "johndoe@googlemail.com"),
    ("email", " Alice+x@Example.ORG ", "alice@example.org"),
    ("ip", "::ffff:203.0.113.7", "203.0.113.7"),
    ("ip", "2001:0db8:0000::0001", "2001:db8::1"),
    ("subnet", "203.0.113.7", "203.0.113.250"),
    ("client", "Python-HTTPX/0.27.0 ", "python-httpx/0.27.0"),
])
def test_normalisation_makes_equal_artefacts_equal(kind: str, a: str, b: str) -> None:
    assert normalise(kind, a) == normalise(kind, b)
    kr = world.keyring()
    assert digest(kr, kind, a) == digest(kr, kind, b)


def test_dots_only_fold_for_gmail() -> None:
    assert normalise("email", "j.doe@example.org") != normalise("email", "jdoe@example.org")
    assert normalise("email", "not-an-email") is None
    assert normalise("ip", "999.1.1.1") is None


def test_digest_is_keyed_and_kind_separated() -> None:
    k1, k2 = world.keyring("k1"), world.keyring("k2")
    d1 = digest(k1, "payment", world.CARD)
    assert d1 and d1.startswith("k1:") and len(d1) == 3 + 64
    assert digest(k2, "payment", world.CARD) != d1
    assert digest(k1, "client", world.CARD) != d1  # same text, other kind: other digest
    assert world.CARD not in d1


def test_rotation_keeps_old_indicators_matchable() -> None:
    old = digest(world.keyring("k1"), "payment", world.CARD)
    rotated = world.keyring("k2", with_previous=True)
    assert digest(rotated, "payment", world.CARD).startswith("k2:")
    assert old in all_digests(rotated, "payment", world.CARD)
    expired = parse_keyring(keyring_toml("k2", {"k2": world.SECRET_K2, "k1": world.SECRET_K1},
                                         {"k1": "2020-01-01T00:00:00+00:00"}))
    assert old not in all_digests(expired, "payment", world.CARD, when=datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_bad_keyrings_are_refused() -> None:
    with pytest.raises(ConfigError):
        parse_keyring('current = "k9"\n[keys.k1]\nsecret = "' + "11" * 32 + '"\n')
    with pytest.raises(ConfigError):
        parse_keyring('current = "k1"\n[keys.k1]\nsecret = "abcd"\n')


def test_sketches_match_paraphrases_not_other_prompts() -> None:
    key = world.keyring().current_key
    a = skeleton([world.TEMPLATE_A.format(t) for t in world.TASKS])
    b = skeleton([world.TEMPLATE_B.format(t) for t in world.TASKS])
    assert a and b
    sa, sb = sketch(key, a), sketch(key, b)
    assert sa.similarity(sb) >= 0.2
    assert skeleton(world.BENIGN) is None  # organic prompts have no template
    other = skeleton([f"Translate into German, keeping formatting and tone intact: {t}" for t in world.TASKS])
    assert other and sa.similarity(sketch(key, other)) < 0.1
    assert Sketch.from_str(sa.to_str()) == sa


def test_sketch_under_another_key_shares_nothing() -> None:
    a = skeleton([world.TEMPLATE_A.format(t) for t in world.TASKS])
    assert a
    k1 = world.keyring("k1").current_key
    k1_other_secret = parse_keyring(keyring_toml("k1", {"k1": "33" * 32})).current_key
    s1, s2 = sketch(k1, a), sketch(k1_other_secret, a)
    assert s1.similarity(s2) < 0.05
    assert s1.similarity(sketch(world.keyring("k2").current_key, a)) == 0.0  # other key id: incomparable
