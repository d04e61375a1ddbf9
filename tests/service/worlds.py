"""Hand-made traffic: a person chatting, a harvesting script, an enterprise pipeline, a researcher."""

from __future__ import annotations

import random
from typing import Any

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

HARVEST_PROMPTS = [
    "Solve the following problem step by step and show your full reasoning: a train leaves at {a} km/h for {b} hours. How far?",
    "Write a Python function that checks whether {a} is prime. Explain your reasoning step by step.",
    "Translate into German: the meeting about budget line {a} is moved to {b} o'clock.",
    "Summarize the key points of this passage about the history of irrigation in region {a}.",
    "Classify the sentiment of this review as positive or negative: the blender broke after {a} days.",
    "Which of the following is a valid syllogism? (a) all {a} are {b} (b) some cats are dogs. Think step by step.",
    "Write a short poem about autumn leaves and the number {a}.",
    "What causes the seasons on Earth? Give a detailed explanation in exactly {a} sentences.",
    "You are an expert chemist. Explain the reaction between sodium and water at {a} degrees.",
    "Prove that the sum of the first {a} odd numbers is a perfect square. Put your final answer after 'Final answer:'.",
    "Extract every date and person mentioned in this text: meeting on day {a} with the board.",
    "Describe the main differences between TCP and UDP for a network of {a} nodes.",
]

CHAT = [
    "how do I make a sourdough starter?", "ok and how often should I feed it", "what about using rye flour instead",
    "thanks! can you give me a simple recipe for the first loaf", "make it shorter please",
    "what's a good name for a bakery in a small town", "more examples like the second one",
    "my cat keeps scratching the sofa, any tips?", "why does she do it though",
]


def event(rid: str, aid: str, ts: float, prompt: str, **kw: Any) -> dict[str, Any]:
    return {"request_id": rid, "account_id": aid, "ts": ts, "prompt": prompt, **kw}


def harvester(aid: str, n: int, start: float = T0, gap: float = 1.5, seed: int = 1) -> list[dict[str, Any]]:
    """A script sweeping many task families, asking for traces, with machine-regular timing."""
    r = random.Random(seed)
    out, ts = [], start
    for i in range(n):
        p = r.choice(HARVEST_PROMPTS).format(a=r.randint(2, 9999), b=r.randint(2, 99))
        out.append(event(f"{aid}-{i}", aid, ts, p, user_agent="python-requests/2.31", completion_tokens=600))
        ts += gap * r.uniform(0.9, 1.1)
    return out


def chat_user(aid: str, n: int, start: float = T0, seed: int = 2) -> list[dict[str, Any]]:
    """A person: a few topics, follow-ups, irregular human gaps, a browser."""
    r = random.Random(seed)
    out, ts = [], start
    for i in range(n):
        out.append(event(f"{aid}-{i}", aid, ts, CHAT[i % len(CHAT)], user_agent="Mozilla/5.0 (X11) Firefox/130.0",
                         completion_tokens=200))
        ts += r.expovariate(1 / 90.0) + (r.random() < 0.1) * r.uniform(600, 4000)
    return out


def enterprise(aid: str, n: int, start: float = T0, seed: int = 3) -> list[dict[str, Any]]:
    """A product back-end: one template, high volume, SDK, one task family."""
    r = random.Random(seed)
    out, ts = [], start
    for i in range(n):
        p = f"Classify this support ticket into billing, shipping or returns: ticket {r.randint(1, 10**6)} says the parcel is late"
        out.append(event(f"{aid}-{i}", aid, ts, p, user_agent="openai-python/1.40", tier="enterprise"))
        ts += r.uniform(0.2, 2.0)
    return out
