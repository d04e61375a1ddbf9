"""Incremental (river-style) versions of the scan's signals, one small state per account.

Why: a nightly scan lets a hydra network harvest all night. The service must score every
request as it arrives, in O(1) time and bounded memory per account, from the same evidence
the batch scan uses (``distillguard.features.text`` supplies the per-prompt features, so a
prompt means the same thing online and offline):

* volume     – decayed request counts (1 min, 1 h) against the tier's normal rate;
* automation – regular inter-arrival times, activity with no sleep gap, one-shot prompts
               (no follow-ups), raw HTTP clients;
* templating – share of prompts whose masked head or tail repeats an earlier one (a tiny
               space-saving sketch of template keys per account), discounted when the
               template is popular across many unflagged accounts (a product's framing);
* reasoning  – share of prompts that demand a reasoning trace or a forced trace format;
* coverage   – broad, even task-family coverage with novelty (no repeats), the shape of a
               dataset generator rather than a person or a product.

Combining: ``score = intent × scale × confidence`` where ``intent`` (coverage, reasoning,
templating) says *what* is being collected and ``scale`` (volume, automation) says it is
collected industrially; both are needed to distil a model. A busy templated enterprise
pipeline has scale but little intent; a person asking for step-by-step answers has intent
but no scale.

Poisoning protection (river's ``protect_anomaly_detector``): the population baseline
(template popularity) learns only from events of accounts that are not flagged, so an
attacker cannot make its own template look like a popular product by sending it a lot.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any

import orjson

from distillguard.features.text import TASK_FAMILIES, client_kind, elicitation, is_followup, mask, task_family

FAMILY_INDEX = {f: i for i, f in enumerate(TASK_FAMILIES)}
SLEEP_GAP_S = 3 * 3600.0
"""A gap this long counts as the account 'sleeping' (people do; unattended scripts don't)."""
BLOOM_BITS = 2048
TAU_MIN, TAU_HOUR = 60.0, 3600.0
TIER_NORMS: dict[str, float] = {"free": 30.0, "build": 200.0, "scale": 1000.0, "enterprise": 3000.0}
"""Typical requests per hour by tier; the policy file may override (``[tiers.X] normal_per_hour``)."""


def _h(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def template_keys(prompt: str, system_prompt: str | None = None) -> tuple[int, int, int]:
    """(head key, tail key, exact key) of a masked prompt.

    Template-generated prompts share a fixed instruction at the start or end around a
    varying slot, so the masked first/last 8 words repeat even when the filled-in content
    differs. The exact key (unmasked head+tail) detects verbatim repeats.
    """
    head = mask(prompt[:400]).split()
    tail = mask(prompt[-300:]).split() if len(prompt) > 400 else head
    sys_part = mask(system_prompt[:200]) if system_prompt else ""
    hk = _h("h|" + sys_part + "|" + " ".join(head[:8]))
    tk = _h("t|" + sys_part + "|" + " ".join(tail[-8:])) | (1 << 32)
    ek = _h("e|" + prompt[:300].lower() + "|" + prompt[-200:].lower())  # verbatim, not masked
    return hk, tk, ek


@dataclass(frozen=True)
class EventFeatures:
    """Per-request features, computed once (outside any lock) and reused."""

    ts: float
    keys: tuple[int, int, int]
    family: int
    elicit: float
    followup: bool
    client: str
    ip: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int


MEMO_MAX_CHARS = 4096
"""Prompts up to this long have their text features memoised (bounded memory per entry)."""


def _text_features(prompt: str, sp: str | None) -> tuple[tuple[int, int, int], int, float, bool]:
    return (template_keys(prompt, sp), FAMILY_INDEX.get(task_family(prompt), len(TASK_FAMILIES) - 1),
            elicitation(prompt, sp), is_followup(prompt))


_text_features_memo = lru_cache(maxsize=32_768)(_text_features)
"""Why memoise: the regex features are ~75% of the per-event CPU and real traffic repeats
prompts (retries, product prompts, a scraper re-sending a failed item); a distinct prompt
is computed once. Pure functions of the text, so results are identical either way."""
_client_kind = lru_cache(maxsize=4096)(client_kind)


def featurize(ev: dict[str, Any], ts: float) -> EventFeatures:
    """Pure per-event feature extraction (the expensive, regex-heavy part), memoised per prompt."""
    prompt = ev.get("prompt") or ""
    sp = ev.get("system_prompt")
    fn = _text_features_memo if len(prompt) <= MEMO_MAX_CHARS and (sp is None or len(sp) <= MEMO_MAX_CHARS) else _text_features
    keys, family, elicit, followup = fn(prompt, sp)
    ua = ev.get("user_agent")
    return EventFeatures(
        ts=ts,
        keys=keys,
        family=family,
        elicit=elicit,
        followup=followup,
        client=_client_kind(ua) if ua is None or len(ua) <= 512 else client_kind(ua),
        ip=ev.get("ip"),
        prompt_tokens=int(ev.get("prompt_tokens") or 0),
        completion_tokens=int(ev.get("completion_tokens") or 0),
        reasoning_tokens=int(ev.get("reasoning_tokens") or 0),
    )


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _sat(x: float) -> float:
    return x / (1.0 + x) if x > 0 else 0.0


class AccountState:
    """Everything the service remembers about one account: fixed size except two tiny dicts
    (template keys ≤ ``slots``, campaign links ≤ 4) and a short decision ring."""

    __slots__ = (
        "account_id", "tier", "n", "first_ts", "last_ts", "r_min", "r_hour", "gap_n", "gap_mean", "gap_m2",
        "awake_since", "fam", "elicit_hits", "followups", "http_lib", "ptok", "ctok", "rtok", "tmpl", "tmpl_hits",
        "bloom", "dups", "links", "campaign_id", "campaign_reason", "hold_action", "hold_until", "override",
        "score", "action", "history", "dirty", "flagged",
    )

    def __init__(self, account_id: str, tier: str | None = None) -> None:
        self.account_id = account_id
        self.tier = tier
        self.n = 0
        self.first_ts = self.last_ts = 0.0
        self.r_min = self.r_hour = 0.0
        self.gap_n, self.gap_mean, self.gap_m2 = 0, 0.0, 0.0
        self.awake_since = 0.0
        self.fam = [0] * len(TASK_FAMILIES)
        self.elicit_hits = self.followups = self.http_lib = 0
        self.ptok = self.ctok = self.rtok = 0
        self.tmpl: dict[int, int] = {}
        self.tmpl_hits = 0
        self.bloom = 0
        self.dups = 0
        self.links: dict[str, int] = {}
        self.campaign_id: str | None = None
        self.campaign_reason = ""
        self.hold_action = "allow"
        self.hold_until = 0.0
        self.override: str | None = None
        self.score = 0.0
        self.action = "allow"
        self.history: list[list[Any]] = []
        self.dirty = True
        self.flagged = False

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__ if k not in ("dirty", "history")}
        d["tmpl"] = [[k, v] for k, v in self.tmpl.items()]
        d["bloom"] = hex(self.bloom)
        return d

    def to_blob(self) -> bytes:
        """Compact snapshot for the store: a positional JSON list (``BLOB_FIELDS`` order).

        Why not ``to_dict``: a flush serialises every changed account on the event loop,
        and one C-level ``attrgetter`` call plus orjson is ~4x cheaper than building a dict
        slot by slot — that slice of loop time is what request p99 pays for.
        """
        v = list(_BLOB_GET(self))
        v[_TMPL_AT] = list(self.tmpl.items())
        v[_BLOOM_AT] = hex(self.bloom)
        return orjson.dumps(v)

    @classmethod
    def from_blob(cls, blob: bytes) -> "AccountState":
        """Inverse of ``to_blob``; also reads the older ``to_dict`` JSON."""
        doc = orjson.loads(blob)
        if isinstance(doc, dict):
            return cls.from_dict(doc)
        return cls.from_dict(dict(zip(BLOB_FIELDS, doc)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AccountState":
        s = cls(d["account_id"], d.get("tier"))
        for k in cls.__slots__:
            if k in d and k not in ("tmpl", "bloom", "history", "dirty"):
                setattr(s, k, d[k])
        s.tmpl = {int(k): int(v) for k, v in d.get("tmpl", [])}
        s.bloom = int(d.get("bloom", "0x0"), 16)
        s.dirty = False
        return s

    # --------------------------------------------------------------------- learning
    def learn_one(self, f: EventFeatures, slots: int) -> None:
        """Fold one event into the state. O(1) with a bounded template sketch."""
        if self.n:
            dt = max(0.0, f.ts - self.last_ts)
            self.r_min = self.r_min * math.exp(-dt / TAU_MIN) + 1.0
            self.r_hour = self.r_hour * math.exp(-dt / TAU_HOUR) + 1.0
            if dt >= SLEEP_GAP_S:
                self.awake_since = f.ts
            elif dt > 0:
                x = math.log(dt + 0.05)
                self.gap_n += 1
                d = x - self.gap_mean
                self.gap_mean += d / self.gap_n
                self.gap_m2 += d * (x - self.gap_mean)
        else:
            self.first_ts = self.awake_since = f.ts
            self.r_min = self.r_hour = 1.0
        self.last_ts = max(self.last_ts, f.ts)
        self.n += 1
        self.fam[f.family] += 1
        self.elicit_hits += f.elicit >= 0.5
        self.followups += f.followup
        self.http_lib += f.client == "http_lib"
        self.ptok += f.prompt_tokens
        self.ctok += f.completion_tokens
        self.rtok += f.reasoning_tokens
        hk, tk, ek = f.keys
        hit = False
        for k in (hk, tk):
            c = self.tmpl.get(k)
            if c is not None:
                self.tmpl[k] = c + 1
                hit = True
            elif len(self.tmpl) < slots:
                self.tmpl[k] = 1
            else:  # space-saving: replace the least counted key, inheriting its count
                kmin = min(self.tmpl, key=self.tmpl.__getitem__)
                self.tmpl[k] = self.tmpl.pop(kmin) + 1
        self.tmpl_hits += hit
        bits = (1 << (ek % BLOOM_BITS)) | (1 << ((ek >> 11) % BLOOM_BITS))
        if self.bloom & bits == bits:
            self.dups += 1
        self.bloom |= bits
        self.dirty = True

    # ---------------------------------------------------------------------- scoring
    def signals(self, tier_norm: float, popular: float = 0.0) -> dict[str, float]:
        """Per-signal scores in [0, 1] (same names as the batch detectors)."""
        n = self.n
        if n == 0:
            return {"volume": 0.0, "automation": 0.0, "templating": 0.0, "reasoning": 0.0, "coverage": 0.0}
        volume = max(_sat(self.r_hour / tier_norm), _sat(n / (tier_norm * 24.0)))
        std = math.sqrt(self.gap_m2 / (self.gap_n - 1)) if self.gap_n > 1 else 2.0
        regular = _clamp((1.2 - std) / 1.0) * _clamp(self.gap_n / 20.0)
        awake_h = (self.last_ts - self.awake_since) / 3600.0
        no_sleep = _clamp((awake_h - 16.0) / 8.0)
        one_shot = (1.0 - self.followups / n) * _clamp(n / 30.0)
        http = self.http_lib / n
        automation = 1.0 - (1 - 0.7 * regular) * (1 - 0.6 * no_sleep) * (1 - 0.35 * one_shot) * (1 - 0.2 * http)
        templating = (self.tmpl_hits / n) * _clamp(n / 20.0) * (1.0 - 0.8 * popular)
        rt_share = self.rtok / self.ctok if self.ctok else 0.0
        reasoning = max(self.elicit_hits / n, 0.3 * _clamp(rt_share * 2)) * _clamp(n / 10.0)
        nz = [c for c in self.fam if c]
        ent = -sum(c / n * math.log(c / n) for c in nz) / math.log(len(self.fam))
        novelty = 1.0 - self.dups / n
        coverage = _clamp((ent - 0.55) / 0.35) * novelty * _clamp(n / 40.0)
        return {"volume": volume, "automation": automation, "templating": templating,
                "reasoning": reasoning, "coverage": coverage}

    def popular_keys(self) -> list[int]:
        return [k for k, c in self.tmpl.items() if c >= 2]


BLOB_FIELDS: tuple[str, ...] = tuple(k for k in AccountState.__slots__ if k not in ("dirty", "history"))
_BLOB_GET = attrgetter(*BLOB_FIELDS)
_TMPL_AT, _BLOOM_AT = BLOB_FIELDS.index("tmpl"), BLOB_FIELDS.index("bloom")


def combine(sig: dict[str, float], n: int) -> float:
    """Intent × scale × confidence (see the module docstring for why both are needed)."""
    intent = 1.0 - (1 - 0.85 * sig["coverage"]) * (1 - 0.6 * sig["reasoning"]) * (1 - 0.5 * sig["templating"])
    scale = 1.0 - (1 - 0.8 * sig["volume"]) * (1 - 0.6 * sig["automation"])
    conf = n / (n + 15.0)
    return round(_clamp(intent * scale * conf * 1.15), 4)


REASON_TEXT = {
    "volume": "{n:,} requests; {r:.0f} in the last hour vs a normal {norm:.0f}/h for tier {tier}",
    "automation": "machine-like timing/clients: {fu:.0%} follow-ups, {http:.0%} raw HTTP client, awake {awake:.1f} h",
    "templating": "{tm:.0%} of {n:,} prompts repeat a template head or tail",
    "reasoning": "{el:.0%} of {n:,} prompts demand a reasoning trace or trace format",
    "coverage": "prompts spread over {fams} task families with {nov:.0%} novel prompts",
}


def explain(st: AccountState, sig: dict[str, float], tier_norm: float, top: int = 3) -> list[str]:
    """Sentences an analyst can check for the strongest signals (score ≥ 0.3)."""
    n = max(st.n, 1)
    vals = dict(n=st.n, r=st.r_hour, norm=tier_norm, tier=st.tier or "default", fu=st.followups / n,
                http=st.http_lib / n, awake=(st.last_ts - st.awake_since) / 3600.0, tm=st.tmpl_hits / n,
                el=st.elicit_hits / n, fams=sum(1 for c in st.fam if c), nov=1 - st.dups / n)
    out = []
    for name, v in sorted(sig.items(), key=lambda kv: -kv[1])[:top]:
        if v >= 0.3:
            out.append(f"{name} {v:.2f}: " + REASON_TEXT[name].format(**vals))
    return out


class PopulationBaseline:
    """Template popularity across accounts, learned only from unflagged accounts.

    A template key used by many distinct benign accounts is a product's framing (an SDK
    default, a popular app), so templating evidence on it is discounted. Bounded: at most
    ``max_keys`` keys (oldest dropped) and ``cap`` accounts counted per key.
    """

    def __init__(self, max_keys: int = 200_000, cap: int = 64, popular_at: int = 25) -> None:
        self.max_keys, self.cap, self.popular_at = max_keys, cap, popular_at
        self.accounts: dict[int, set[str]] = {}

    def learn(self, account_id: str, keys: list[int]) -> None:
        for k in keys:
            s = self.accounts.get(k)
            if s is None:
                if len(self.accounts) >= self.max_keys:
                    self.accounts.pop(next(iter(self.accounts)))
                s = self.accounts[k] = set()
            if len(s) < self.cap:
                s.add(account_id)

    def popularity(self, keys: list[int]) -> float:
        """Share of an account's repeated template keys that many benign accounts use."""
        if not keys:
            return 0.0
        pop = sum(1 for k in keys if len(self.accounts.get(k, ())) >= self.popular_at)
        return pop / len(keys)
