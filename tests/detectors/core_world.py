"""Hand-made traffic for the core signals' tests: one function per persona, no corpus text.

Each persona is written from what the real customer does (bursty people with follow-ups,
a templated enterprise pipeline, a researcher running one benchmark, a classroom behind
one NAT, an agency paying for many accounts with one card) and what a harvester needs
(volume, breadth, traces, cheap identities).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, conform

T0 = datetime(2026, 2, 2, 8, tzinfo=timezone.utc)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"
SDK = "OpenAI/Python 1.40.0"
RAW = "python-requests/2.32.3"

BROAD = [  # one task per family, filled from small word lists
    "Write a python function that {v} a list of {n}.",
    "Solve: a train travels {k} km in {m} hours. What is its average speed?",
    "Translate into German: the {n} is on the table.",
    "Summarize the key points of this paragraph about {n}: {n} matters because of {n}.",
    "Classify the sentiment of this review as positive or negative: the {n} was awful.",
    "Which of the following is a logical consequence of the premise that all {n} are blue? (a) x (b) y",
    "Write a short poem about {n}.",
    "Pretend you are a pirate and greet me.",
    "What is the capital of {p}?",
    "Tell a fact: {n} and {n}.",
]
WORDS = {"v": ["sorts", "filters", "reverses", "groups"], "n": ["apples", "rivers", "engines", "stars", "tables"],
         "p": ["Peru", "Kenya", "Chile", "Nepal"]}
CHAT = ["hey can you help me plan dinner with {n}?", "thanks! what about dessert?", "make it shorter",
        "ok and can you explain that again more simply", "why do {n} matter for my garden?"]


def _fill(rng: np.random.Generator, t: str) -> str:
    return t.format(v=rng.choice(WORDS["v"]), n=rng.choice(WORDS["n"]), p=rng.choice(WORDS["p"]),
                    k=int(rng.integers(10, 900)), m=int(rng.integers(1, 9)))


def rows(acc: str, prompts: list[str], gaps_s: list[float] | np.ndarray, *, start: datetime = T0, ua: str = RAW,
         ip: str | list[str] | None = None, conv_len: int = 1, system_prompt: str | None = None,
         completion: int = 300, reasoning: int = 0) -> list[dict]:
    out, t = [], start
    if ip is None:  # each account its own home network, as in real traffic
        h = sum(ord(c) * (i + 1) for i, c in enumerate(acc))
        ip = f"{11 + h % 200}.{h % 251}.{(h // 7) % 251}.{1 + h % 250}"
    for i, (p, g) in enumerate(zip(prompts, gaps_s)):
        t += timedelta(seconds=float(g))
        out.append({"request_id": f"{acc}-{i}", "ts": t, "account_id": acc, "prompt": p, "user_agent": ua,
                    "ip": ip[i % len(ip)] if isinstance(ip, list) else ip, "conversation_id": f"{acc}-c{i // conv_len}",
                    "system_prompt": system_prompt, "prompt_tokens": 40, "completion_tokens": completion,
                    "reasoning_tokens": reasoning})
    return out


def person(acc: str, n: int = 40, seed: int = 0) -> list[dict]:
    """Bursty daytime chat with follow-ups, in a browser."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(120, n) * np.where(rng.random(n) < 0.15, 60, 1)
    gaps = np.where(rng.random(n) < 0.05, 14 * 3600, gaps)
    return rows(acc, [_fill(rng, CHAT[i % len(CHAT)]) for i in range(n)], gaps, ua=BROWSER, conv_len=4)


def harvester(acc: str, n: int = 600, seed: int = 1, cot: bool = True) -> list[dict]:
    """Round-the-clock, regular, one-shot, broad sweep demanding traces."""
    rng = np.random.default_rng(seed)
    suffix = " Think step by step and show your full reasoning, then give 'Final answer:'." if cot else ""
    prompts = [_fill(rng, BROAD[i % len(BROAD)]) + f" (item {i})" + suffix for i in range(n)]
    return rows(acc, prompts, rng.normal(150, 10, n).clip(1), reasoning=900 if cot else 0, completion=400)


def enterprise(acc: str, n: int = 800, seed: int = 2) -> list[dict]:
    """One template all day and night through the official SDK: narrow, no traces."""
    rng = np.random.default_rng(seed)
    prompts = [f"Summarize support ticket #{int(rng.integers(1e5))}: customer reports login fails. Priority low."
               for _ in range(n)]
    return rows(acc, prompts, rng.normal(100, 5, n).clip(1), ua=SDK)


def researcher(acc: str, n: int = 300, seed: int = 3) -> list[dict]:
    """Runs one maths benchmark once with chain-of-thought, from a script."""
    rng = np.random.default_rng(seed)
    prompts = [f"Q: A shop sells {int(rng.integers(2, 90))} pens at {int(rng.integers(1, 9))} dollars. "
               "How much in total? Let's think step by step." for _ in range(n)]
    return rows(acc, prompts, rng.normal(3, 0.5, n).clip(0.1))


def table(*groups: list[dict]) -> pa.Table:
    return conform(pa.Table.from_pylist([r for g in groups for r in g]), EVENT_COLUMNS)


def accounts(rows_: list[dict]) -> pa.Table:
    return conform(pa.Table.from_pylist(rows_), ACCOUNT_COLUMNS)


def scores(t: pa.Table) -> dict[str, float]:
    return dict(zip(t.column("account_id").to_pylist(), t.column("score").to_pylist()))


def details(t: pa.Table) -> dict[str, str]:
    return dict(zip(t.column("account_id").to_pylist(), t.column("detail").to_pylist()))
