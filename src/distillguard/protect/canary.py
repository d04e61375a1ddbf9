"""Canaries: unique, plausible, keyed phrasings inserted for trigger prompts, and their registry.

A *trigger* is a prompt whose keyed hash falls under ``rate`` (the provider's key, so the same
prompts are triggers for every account and a provenance probe knows which they are). When a
suspected account asks a trigger prompt, the answer gets one extra sentence naming a keyed,
made-up but plausible rule, e.g. "This is sometimes called the Marchetti–Okafor check." The
name pair is drawn by an HMAC of (account key, prompt), so it says *who* received it.

The registry (SQLite) records what went to whom: account id, request id, time, and keyed
hashes (HMAC-SHA256 under a registry key derived from the secret) of the prompt and of the
canary sentence. No prompt or response text is stored, so the registry can outlive the
provider's log retention; a canary is regenerated from the key and checked against its hash.

**Null model.** A model that never saw our canary writes a name pair from our lists only by
chance. For one probe, given the suspect's output, the chance that it contains the keyed pair
is (pairs of our lists present in the output) / (all pairs); the key is uniform and
independent of the output, so this is exact, and hits over probes are a Poisson-binomial.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Written for this project: common surnames from many languages, so a pair reads as a plausible eponym.
NAMES: tuple[str, ...] = (
    "Abara", "Albrecht", "Andersen", "Arvidsson", "Balogun", "Barros", "Beaumont", "Bergstrom", "Bianchi", "Brennan",
    "Castellano", "Chaudhry", "Corbett", "Dalca", "Delacroix", "Dimitrov", "Driscoll", "Eklund", "Esposito", "Falk",
    "Ferreira", "Fontaine", "Galloway", "Gruber", "Haddad", "Halvorsen", "Hartmann", "Ibarra", "Iqbal", "Jankowski",
    "Kader", "Kowalczyk", "Lachance", "Lindqvist", "Lombardi", "Madsen", "Marchetti", "Mendez", "Moreau", "Nakamura",
    "Novak", "Nyberg", "Okafor", "Olsen", "Ortega", "Pellegrini", "Petrov", "Quintero", "Rasmussen", "Rinaldi",
    "Sandoval", "Schreiber", "Sorensen", "Szabo", "Takahashi", "Thorne", "Uddin", "Valdez", "Vasquez", "Voss",
    "Weston", "Whitaker", "Yilmaz", "Zeller",
)
TEMPLATES: tuple[str, ...] = (
    "This is sometimes called the {a}–{b} check.",
    "A quick way to verify this is the {a}–{b} rule.",
    "Textbooks occasionally refer to this as the {a}–{b} method.",
    "The same result follows from what is known as the {a}–{b} principle.",
)
N_PAIRS = len(NAMES) * (len(NAMES) - 1)
_NAME_RE = re.compile(r"\b(" + "|".join(NAMES) + r")\b\s*[-–—‑ ]\s*\b(" + "|".join(NAMES) + r")\b", re.I)
_NAME_INDEX = {n.lower(): i for i, n in enumerate(NAMES)}


def normalise_prompt(prompt: str) -> str:
    """Case-, space- and Unicode-insensitive form of a prompt (what triggers and hashes see)."""
    return " ".join(unicodedata.normalize("NFKC", prompt).lower().split())


@dataclass(frozen=True)
class Canary:
    text: str
    pair: tuple[str, str]


class Canaries:
    """Keyed trigger test, canary generation and presence check."""

    def __init__(self, secret: bytes, rate: float = 0.05) -> None:
        self._trig = hmac.new(secret, b"distillguard/canary/trigger", hashlib.sha256).digest()
        self._gen = hmac.new(secret, b"distillguard/canary/generate", hashlib.sha256).digest()
        self.hash_key = hmac.new(secret, b"distillguard/canary/registry", hashlib.sha256).digest()
        self.rate = rate

    def is_trigger(self, prompt: str) -> bool:
        d = hmac.new(self._trig, normalise_prompt(prompt).encode(), hashlib.sha256).digest()
        return int.from_bytes(d[:8], "big") < self.rate * 2**64

    def canary(self, account_id: str, prompt: str) -> Canary:
        msg = f"{account_id}\x1f{normalise_prompt(prompt)}".encode()
        d = int.from_bytes(hmac.new(self._gen, msg, hashlib.sha256).digest()[:8], "big")
        n = len(NAMES)
        a = d % n
        b = (a + 1 + (d // n) % (n - 1)) % n
        t = TEMPLATES[(d // (n * (n - 1))) % len(TEMPLATES)]
        return Canary(t.format(a=NAMES[a], b=NAMES[b]), (NAMES[a], NAMES[b]))

    def insert(self, response: str, canary: Canary) -> str:
        """The response with the canary sentence placed before a final answer line, or at the end."""
        lines = response.rstrip().split("\n")
        last = lines[-1].strip()
        if len(lines) > 1 and (last.startswith("####") or last.startswith("A:") or last.lower().startswith("answer")):
            return "\n".join(lines[:-1]) + " " + canary.text + "\n" + lines[-1]
        sep = "" if response.endswith((" ", "\n")) else " "
        return response + sep + canary.text

    def hash(self, text: str) -> str:
        return hmac.new(self.hash_key, text.encode(), hashlib.sha256).hexdigest()

    def prompt_hash(self, prompt: str) -> str:
        return self.hash("prompt\x1f" + normalise_prompt(prompt))


def pairs_present(text: str) -> set[tuple[str, str]]:
    """Ordered name pairs of our lists written in ``text`` ("A–B", "A-B", "A B")."""
    return {(m.group(1).lower(), m.group(2).lower()) for m in _NAME_RE.finditer(text)}


def contains(text: str, canary: Canary) -> bool:
    return (canary.pair[0].lower(), canary.pair[1].lower()) in pairs_present(text)


def null_hit_probability(text: str) -> float:
    """P(a keyed pair is in ``text``) for a text written without our key (at least 1/N_PAIRS)."""
    present = {p for p in pairs_present(text) if p[0] != p[1]}
    return max(len(present), 1) / N_PAIRS


def poisson_binomial_sf(hits: int, probs: list[float]) -> float:
    """P(X >= hits) for X a sum of independent Bernoulli(probs)."""
    if hits <= 0:
        return 1.0
    if hits > len(probs):
        return 0.0
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for i, p in enumerate(probs):
        dist[1:i + 2] = dist[1:i + 2] * (1 - p) + dist[0:i + 1] * p
        dist[0] *= 1 - p
    return float(min(1.0, dist[hits:].sum()))


@dataclass(frozen=True)
class Issued:
    account_id: str
    request_id: str
    prompt_hash: str
    canary_hash: str
    ts: float


class CanaryRegistry:
    """What canary went to whom: keyed hashes only (SQLite, WAL). Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS canaries (account_id TEXT NOT NULL, request_id TEXT NOT NULL, "
            "prompt_hash TEXT NOT NULL, canary_hash TEXT NOT NULL, ts REAL NOT NULL, "
            "PRIMARY KEY (request_id, account_id))")
        self._db.execute("CREATE INDEX IF NOT EXISTS canaries_prompt ON canaries(prompt_hash)")

    def record(self, account_id: str, request_id: str, prompt_hash: str, canary_hash: str, ts: float | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO canaries VALUES (?, ?, ?, ?, ?)",
                             (account_id, request_id, prompt_hash, canary_hash, time.time() if ts is None else ts))

    def by_prompt(self, prompt_hash: str) -> list[Issued]:
        with self._lock:
            rows = self._db.execute("SELECT account_id, request_id, prompt_hash, canary_hash, ts FROM canaries "
                                    "WHERE prompt_hash = ? ORDER BY ts", (prompt_hash,)).fetchall()
        return [Issued(*r) for r in rows]

    def accounts(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT account_id FROM canaries ORDER BY account_id")]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
