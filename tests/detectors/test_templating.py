"""Signal 3 (templating) on hand-made worlds: real DuckDB, real sketches, no mocks."""

from __future__ import annotations

import random

import numpy as np

from distillguard.detectors.base import SIGNAL_SCHEMA
from distillguard.testing.hand_world import prompts_context
from distillguard.detectors.templating import Templating
from distillguard.features import minhash
from distillguard.features.templates import cluster_prompts, world_templates

WORDS = ("apple river cloud stone music garden planet engine mirror window forest castle doctor violin "
         "bridge harbor desert rocket pencil turtle summer winter candle silver market island").split()


def _diverse(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) for _ in range(n)]




def _world(seed: int = 1) -> dict[str, list[str]]:
    rng = random.Random(seed)
    tpl = [
        "Solve the following problem step by step and give the final answer: {a} apples cost {b} dollars, "
        "how much do {c} apples cost?",
        "Translate the following sentence into French, then explain each word: \"{w}\"",
        "Write a Python function named {w} that returns the sum of the first {a} primes; explain your reasoning.",
    ]
    distiller = [rng.choice(tpl).format(a=rng.randint(2, 999), b=rng.randint(2, 99), c=rng.randint(2, 99),
                                        w=" ".join(rng.sample(WORDS, 4))) for _ in range(120)]
    retry = ["Please summarise our quarterly sales report for the leadership team in five bullet points"] * 60
    return {"distiller": distiller, "human": _diverse(rng, 80), "retry": retry}


def test_sketch_is_deterministic_and_masks_slots() -> None:
    a = minhash.sketch(["What is 17 times 23? Explain.", "What is 9 times 31? Explain.", "Name a color"])
    b = minhash.sketch(["What is 17 times 23? Explain.", "What is 9 times 31? Explain.", "Name a color"])
    assert np.array_equal(a.bands, b.bands) and np.array_equal(a.exact, b.exact)
    assert a.exact[0] == a.exact[1] and a.exact[0] != a.exact[2]
    assert int(minhash.sketch(["hello world"]).exact[0]) == int(minhash.sketch(["Hello   WORLD"]).exact[0])
    # Pinned values: sketches must not depend on the process (no hash() salt) or change
    # silently, or every stored corpus index would stop matching (bump SKETCH_VERSION).
    assert int(minhash.sketch(["hello world"]).exact[0]) == 1032336978744518285
    assert minhash.sketch(["Solve 2+2 step by step please now"]).bands[0, :2].tolist() == [
        17149920206769922981, 3247377157615219153]


def test_near_duplicates_cluster_and_strangers_do_not() -> None:
    texts = ["Write a poem about the sea and the sky in the style of Lord Byron, with four stanzas",
             "Write a poem about the sea and the stars in the style of Lord Byron, with four stanzas",
             "How do I bake sourdough bread at home without a dutch oven?"]
    sk = minhash.sketch(texts)
    labels = cluster_prompts(sk.bands, sk.n_tokens >= 5)
    assert labels[0] == labels[1] != labels[2]


def test_templated_sweep_scores_high_and_human_low() -> None:
    ctx = prompts_context(_world())
    out = Templating().detect(ctx)
    assert out.schema == SIGNAL_SCHEMA
    by = {r["account_id"]: r for r in out.to_pylist()}
    assert by["distiller"]["score"] > 0.7
    assert "match 3 templates" in by["distiller"]["detail"]
    assert by["distiller"]["examples"] and all(e.startswith("distiller-") for e in by["distiller"]["examples"])
    assert by["human"]["score"] < 0.1
    # One prompt repeated 60 times is a template with no slot diversity: not a sweep.
    assert by["retry"]["score"] < 0.1 and by["retry"]["value"] > 0.9


def test_sampling_cap_and_cache() -> None:
    ctx = prompts_context(_world())
    world = world_templates(ctx.con, per_account=50, cache=ctx.artefacts)
    stats = {r["account_id"]: r for r in world.stats.to_pylist()}
    assert stats["distiller"]["n_sampled"] == 50 and stats["distiller"]["n_total"] == 120
    assert world_templates(ctx.con, per_account=50, cache=ctx.artefacts) is world
    out = Templating(per_account=50).detect(ctx).to_pylist()
    assert any("a sample of 50 of 120 prompts" in r["detail"] for r in out)


def test_deterministic_across_runs() -> None:
    a = Templating().detect(prompts_context(_world(3)))
    b = Templating().detect(prompts_context(_world(3)))
    assert a.equals(b)


def test_empty_events() -> None:
    out = Templating().detect(prompts_context({}))
    assert out.num_rows == 0 and out.schema == SIGNAL_SCHEMA


def test_null_and_odd_prompts_are_safe() -> None:
    sk = minhash.sketch([None, "", "   ", "数学题：小明有5个苹果", "x" * 50_000, "tab\tand\nnewline words here"])
    assert sk.exact[0] == 0 and sk.exact[1] == 0 and sk.exact[2] == 0
    assert sk.n_tokens[3] > 5  # CJK characters are tokens of their own
    assert sk.n_tokens[4] == 3  # head, the "…" joint, tail of a prompt with no spaces
    assert (sk.bands[3:] != 0).all()


def test_popular_phrasing_is_not_an_accounts_template() -> None:
    """A frame that more than a tenth of the world's accounts use is how the product's users
    talk, not one account's generation script; a pipeline's own template still counts."""
    rng = random.Random(7)
    frame = "please explain step by step in plain words why the {} and the {} behave this way today"
    world = {f"user{i}": [frame.format(rng.choice(WORDS), rng.choice(WORDS)) for _ in range(6)] + _diverse(rng, 4)
             for i in range(25)}
    own = "classify the support ticket below into billing shipping or refund and reply with one word: {} {} {}"
    world["pipeline"] = [own.format(rng.choice(WORDS), rng.choice(WORDS), i) for i in range(60)]
    s = {r["account_id"]: r for r in Templating().detect(prompts_context(world)).to_pylist()}
    assert s["pipeline"]["score"] > 0.4  # still counts (halved: one narrow template family)
    assert max(s[f"user{i}"]["score"] for i in range(25)) < 0.05
    assert "popular phrasings" in s["user3"]["detail"]


def test_one_narrow_template_scores_below_many_templates() -> None:
    """A pipeline's single summariser template is half the evidence of a sweep over many."""
    from distillguard.detectors.templating import score_row
    base = {"account_id": "a", "n_sampled": 400, "n_total": 4000, "n_templated": 400, "n_templated_popular": 0,
            "slot_diversity": 1.0, "accounts_sharing": 1, "examples": []}
    narrow = score_row({**base, "n_templates": 1, "top_share": 1.0})
    broad = score_row({**base, "n_templates": 20, "top_share": 0.1})
    assert broad["score"] > 0.99 and abs(narrow["score"] - 0.5 * broad["score"]) < 0.01
    assert "narrow" in narrow["detail"] and "narrow" not in broad["detail"]
