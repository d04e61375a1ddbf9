"""A small hand-made world for detector tests: benign personas, hard cases and harvesters.

Why: detectors must be tested on cases we can reason about before any simulator exists,
including the benign personas that break naive detectors (an enterprise pipeline that
sends one template all day, a researcher who runs GSM8K once, a classroom behind one
NAT). Text is generated from small word lists, never from the shared corpus, and the
world is deterministic for a seed. ``labels`` maps account -> persona.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.schema import EVENT_COLUMNS, EVENTS_SCHEMA, conform

TOPICS: dict[str, list[str]] = {
    "cooking": ["recipe", "oven", "garlic", "pasta", "dinner", "bake", "sauce", "vegan", "spices", "kitchen"],
    "travel": ["flight", "hotel", "itinerary", "Lisbon", "visa", "luggage", "train", "beach", "budget", "museum"],
    "coding": ["python", "function", "error", "list", "loop", "dictionary", "bug", "class", "import", "test"],
    "fitness": ["workout", "running", "protein", "muscles", "stretching", "knee", "marathon", "gym", "sleep", "diet"],
    "pets": ["dog", "cat", "puppy", "vet", "leash", "litter", "barking", "treats", "walk", "fur"],
    "money": ["budget", "savings", "rent", "loan", "taxes", "invoice", "salary", "credit", "pension", "mortgage"],
    "garden": ["tomatoes", "soil", "compost", "roses", "watering", "seeds", "weeds", "pots", "shade", "mulch"],
    "music": ["guitar", "chords", "piano", "song", "lyrics", "band", "rhythm", "scales", "concert", "drums"],
}
CHAT = [
    "hey, quick question about my {a}, should I worry about the {b}?",
    "thanks! and what if the {a} is {b} instead?",
    "can you help me with {a}? my {b} keeps going wrong",
    "I tried that but the {a} still {b}. any other ideas?",
    "what do you think about {a} and {b} for this weekend",
    "ok so my friend says {a} is better than {b}, is that true?",
]
TASKS = [
    "Solve the following problem step by step and show all reasoning. A shop sells {n} apples at {m} dollars each. How much in total?",
    "Write a Python function that {verb} a list of {noun} and returns the result. Explain each line.",
    "Translate the following sentence into French, then explain the grammar in detail: The {noun} {verb} quickly.",
    "Question: What is the capital of {place}? Answer with a detailed explanation of your reasoning.",
    "Classify the sentiment of this review as positive or negative and justify: '{noun} was {adj}.'",
    "Summarize the following article in three bullet points, thinking step by step: {noun} {verb} in {place}.",
    "Given the premise '{noun} {verb}', does it entail '{adj} {noun}'? Think step by step, then answer yes or no.",
    "Prove that the sum of the first {n} odd numbers equals {n} squared. Provide a rigorous derivation.",
    "Generate a multiple-choice exam question about {noun} in {place} with four options and the correct answer.",
    "Rewrite this paragraph in a formal academic register and list every change you made: {noun} is {adj}.",
    "Explain the chemical reaction between {noun} and water, including balanced equations and mechanism.",
    "You are an expert historian. Describe the causes of the {adj} war in {place}, citing key events in order.",
]
FILL = {
    "verb": ["sorts", "filters", "reverses", "merges", "counts", "groups", "ranks", "encodes"],
    "noun": ["sodium", "the river", "integers", "the senate", "a glacier", "the engine", "proteins", "strings"],
    "adj": ["terrible", "superb", "ancient", "northern", "brilliant", "civil", "forgotten", "mediocre"],
    "place": ["Peru", "Kenya", "Norway", "Vietnam", "Chile", "Egypt", "Canada", "Nepal"],
}
T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)


def _task(rng: np.random.Generator, tmpl: str) -> str:
    return tmpl.format(n=int(rng.integers(2, 500)), m=int(rng.integers(1, 9)),
                       **{k: v[int(rng.integers(len(v)))] for k, v in FILL.items()})


def build_world(seed: int = 0, *, n_chat: int = 60, n_attack: int = 4) -> tuple[pa.Table, dict[str, str]]:
    """Events (canonical schema) and persona labels of a small deterministic world."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    labels: dict[str, str] = {}

    def add(acc: str, prompts: list[str], conv_len: int, spacing_s: float) -> None:
        t = T0 + timedelta(seconds=float(rng.integers(0, 86_400)))
        for i, p in enumerate(prompts):
            t += timedelta(seconds=float(spacing_s * (0.5 + rng.random())))
            rows.append({"request_id": f"{acc}-r{i}", "ts": t, "account_id": acc, "prompt": p,
                         "conversation_id": f"{acc}-c{i // conv_len}", "ip": "10.0.0.1"})

    topic_names = list(TOPICS)
    for a in range(n_chat):
        acc = f"chat{a:03d}"
        mine = [topic_names[int(i)] for i in rng.choice(len(topic_names), 2, replace=False)]
        n = int(rng.integers(8, 30))
        prompts = []
        for _ in range(n):
            words = TOPICS[mine[int(rng.integers(2))]]
            prompts.append(CHAT[int(rng.integers(len(CHAT)))].format(
                a=words[int(rng.integers(len(words)))], b=words[int(rng.integers(len(words)))]))
        add(acc, prompts, conv_len=3, spacing_s=600)
        labels[acc] = "chat"
    # hard benign personas
    add("enterprise", [f"Summarize support ticket #{i}: customer reports the {TOPICS['coding'][i % 10]} "
                       f"page fails after login. Priority: {['low', 'high'][i % 2]}." for i in range(400)],
        conv_len=1, spacing_s=60)
    labels["enterprise"] = "enterprise_pipeline"
    add("researcher", [_task(rng, TASKS[0]) for _ in range(120)], conv_len=1, spacing_s=5)
    labels["researcher"] = "researcher_gsm8k_once"
    for c in range(6):
        acc = f"class{c}"
        add(acc, [CHAT[int(rng.integers(len(CHAT)))].format(a=w, b="homework")
                  for w in rng.choice(TOPICS["coding"], 12)], conv_len=4, spacing_s=300)
        labels[acc] = "classroom_nat"
    # harvesters: broad sweeps over many task families, one-shot requests
    for a in range(n_attack):
        acc = f"harvest{a}"
        add(acc, [_task(rng, TASKS[int(rng.integers(len(TASKS)))]) for _ in range(300)], conv_len=1, spacing_s=2)
        labels[acc] = "distillation"
    table = conform(pa.Table.from_pylist(rows), EVENT_COLUMNS)
    return table, labels


def connect(events: pa.Table) -> duckdb.DuckDBPyConnection:
    """A real DuckDB connection with ``events`` (and an empty ``accounts``) views."""
    con = duckdb.connect()
    con.register("_events_arrow", events.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA))
    con.execute("create view events as select * from _events_arrow")
    con.execute("create view accounts as select null::varchar as account_id where false")
    return con


def prompts_context(prompts: dict[str, list[str]]) -> "ScanContext":
    """A ScanContext whose ``events`` view holds each account's prompts, one a minute from T0.

    For text-signal tests (templating, known corpus) that only need who asked what.
    """
    from distillguard.detectors.base import ScanContext

    rows: dict[str, list[object]] = {"request_id": [], "ts": [], "account_id": [], "prompt": []}
    for acc, ps in prompts.items():
        for i, p in enumerate(ps):
            rows["request_id"].append(f"{acc}-r{i}")
            rows["ts"].append(T0 + timedelta(minutes=i))
            rows["account_id"].append(acc)
            rows["prompt"].append(p)
    con = duckdb.connect()
    con.register("events_tbl", pa.table(rows))
    con.execute("create view events as select * from events_tbl")
    return ScanContext(con=con)
