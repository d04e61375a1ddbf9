"""The paired likelihood test's null, and what the paraphrase attacks do to the marks."""

from __future__ import annotations

from distillguard.protect.watermark import Watermark, find_sites
from distillguard.provenance.attacks import normalise, synonym_paraphrase
from distillguard.provenance.likelihood import paired_test, twin_pairs
from distillguard.simulate.responses import builtin_pairs

PAIRS = builtin_pairs(400, seed=9)


def _prefers_first_variant(items):  # type: ignore[no-untyped-def]
    """A 'model' with a strong natural preference that never saw any key: +1 per first-variant site."""
    return [float(sum(s.variant == 0 for s in find_sites(t))) for _, t in items]


def test_sign_test_is_fair_for_a_model_that_never_saw_the_key() -> None:
    ps = []
    for i in range(60):
        wm = Watermark(f"likelihood-null-key-{i:04d}".encode())
        ps.append(paired_test("provider", twin_pairs(wm, PAIRS, None, 60), _prefers_first_variant)["p_value"])
    assert sum(p < 0.05 for p in ps) <= 8 and min(ps) > 1e-4


def test_sign_test_detects_a_model_that_learnt_the_key() -> None:
    wm = Watermark(b"likelihood-marked-key-0001")
    marked = {wm.apply(r, "acct").text for _, r in PAIRS}
    score = lambda items: [1.0 if t in marked else 0.0 for _, t in items]  # noqa: E731  (memorised our texts)
    r = paired_test("provider", twin_pairs(wm, PAIRS, None, 80), score)
    assert r["p_value"] < 1e-10 and r["share"] == 1.0
    acc = paired_test("acct", twin_pairs(wm, PAIRS, "acct", 80), score)
    assert acc["p_value"] < 1e-10


def test_paraphrase_attacks() -> None:
    wm = Watermark(b"attack-test-key-00000001")
    marked = [wm.apply(r, "leak").text for _, r in PAIRS]
    assert wm.score_provider(wm.clusters(marked)).p_value < 1e-10
    norm = [normalise(t, seed=i) for i, t in enumerate(marked)]
    assert wm.score_provider(wm.clusters(norm)).p_value > 0.01  # lexicon-aware rewrite erases the mark
    part = [synonym_paraphrase(t, 0.5, 0.5, seed=1) for t in marked]
    p_part = wm.score_provider(wm.clusters(part)).p_value
    assert p_part < 1e-3  # a partial paraphrase leaves evidence
    # facts and numbers are untouched by both
    assert [w for w in norm[0].split() if w[:1].isdigit()] == [w for w in marked[0].split() if w[:1].isdigit()]
