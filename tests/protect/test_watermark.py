"""The keyed lexical watermark: determinism, key separation, detection and its null."""

from __future__ import annotations

import random

from distillguard.protect.watermark import Watermark, find_sites, looks_like_code

SECRET = b"test-secret-0123456789"

TEXT = ("Natalia bought 48 clips in April. So she needs 48 / 2 = 24 more, because May is shorter.\n"
        "Therefore she sold 2 x 12 = 24 clips. She does not buy more. Altogether, she sold 72 clips.\n"
        "For example, it's a large amount. Let's calculate the whole thing quickly.")


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo"]
    verbs = ["bought", "purchased"]
    conn = ["So", "Thus", "Therefore", "Hence"]
    out = []
    for _ in range(n):
        nm = rng.choice(names)
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        out.append(f"{nm} {rng.choice(verbs)} {a} apples and needs {b} more. {rng.choice(conn)} {nm.lower()} has "
                   f"{a} {rng.choice(['x', '*'])} {b} = {a * b}, because it is a large order. "
                   f"It does not matter, {rng.choice(['for example', 'for instance'])}.")
    return out


def test_marking_is_keyed_and_deterministic() -> None:
    wm = Watermark(SECRET)
    a1, a2 = wm.apply(TEXT, "acct_a"), wm.apply(TEXT, "acct_a")
    assert a1.text == a2.text and a1.changed > 0 and a1.sites >= 10
    assert Watermark(SECRET).apply(TEXT, "acct_a").text == a1.text  # same key on another process/instance
    assert wm.apply(a1.text, "acct_a").changed == 0  # stable under its own detector
    others = {wm.apply(TEXT, f"acct_{i}").text for i in range(8)}
    assert len(others) > 1  # per-account choices differ
    assert Watermark(b"another-secret-987654321").apply(TEXT, "acct_a").text != a1.text
    # meaning kept: only variant words changed, numbers and length nearly untouched
    assert [t for t in a1.text.split() if t[0].isdigit()] == [t for t in TEXT.split() if t[0].isdigit()]
    assert abs(len(a1.text) - len(TEXT)) / len(TEXT) < 0.05


def test_sites_respect_exclusions_and_code() -> None:
    assert not [s for s in find_sites("She needs to go. It is so much fun.") if s.gid in ("needs", "so")]
    code = "def f(x):\n    return 2 * x\n\nfor (i = 0; i < n; i++) {\n    y = 3 * 4;\n}\n"
    assert looks_like_code(code) and find_sites(code) == []
    fenced = "So we buy it.\n```\nx = 2 * 3\nbuy()\n```\nSo it ends."
    assert all(s.start < fenced.index("```") or s.start > fenced.rindex("```") for s in find_sites(fenced))


def test_detection_of_marked_text_and_null_on_clean() -> None:
    wm = Watermark(SECRET)
    clean = _corpus(300, 1)
    marked = [wm.apply(t, "acct_leak").text for t in _corpus(300, 2)]
    cm = wm.clusters(marked)
    assert wm.score_provider(cm).p_value < 1e-6
    assert wm.score_account(cm, "acct_leak").p_value < 1e-6
    assert wm.score_account(cm, "acct_other").p_value > 0.01  # another account's key sees noise
    cc = wm.clusters(clean)
    assert wm.score_provider(cc).p_value > 0.01 and wm.score_account(cc, "acct_leak").p_value > 0.01


def test_null_is_calibrated_over_keys() -> None:
    """Unmarked text against many independent keys: p < 0.05 about 5% of the time, never tiny."""
    texts = _corpus(200, 3)
    ps = []
    for i in range(200):
        wm = Watermark(f"secret-number-{i:06d}".encode())
        ps.append(wm.score_provider(wm.clusters(texts)).p_value)
    rate = sum(p < 0.05 for p in ps) / len(ps)
    assert rate <= 0.12 and min(ps) > 1e-4
