"""The per-account features of :mod:`distillguard.features.account`, fed one event at a time.

Why a second form: the guard must score a request while it is being answered, so it
cannot run SQL over an account's history. :class:`AccountAggregate` keeps a small state per
account (counts, sums, a Welford accumulator of gaps, per-family counts, a bounded
distinct-prompt counter, the current day's hour mask) and :meth:`AccountAggregate.row`
returns exactly the columns that ``build_account_features`` computes in DuckDB, under the
same names. Live detectors (``Detector.live``) read either row through the same
``score_features`` function, so a signal has one definition and two evaluators; the
equivalence test (tests/engine/test_equivalence.py) holds them together.

Per-request features come from :mod:`distillguard.features.text`, the same rules the SQL
form runs vectorised. Known, bounded differences (the tolerance the equivalence test
states): distinct counts switch from exact to a k-minimum-values estimate past
``DISTINCT_EXACT`` values, and ties between equally common task families may name a
different ``top_family``.
"""

from __future__ import annotations

import hashlib
import math
import re
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from distillguard.features import text
from distillguard.features.account import DATACENTER_PREFIXES, ELICIT_LEVEL, FRAME_MIN

FAMILIES: tuple[str, ...] = text.TASK_FAMILIES
FAMILY_INDEX = {f: i for i, f in enumerate(FAMILIES)}
DISTINCT_EXACT = 4096
"""Distinct values counted exactly per account; past it a KMV sketch of this size estimates."""
EXAMPLES = 5
RECENT_KEYS = 512
FRAME_SLOTS = 256
MAX_CONVERSATIONS = 2048
"""Conversations remembered per account (oldest forgotten: a multi-turn share, not a log)."""
_SUBNET = re.compile(r"^([0-9]+[.][0-9]+[.][0-9]+)[.]")
_MAX64 = float(2**64)


def hash64(value: str) -> int:
    """A stable 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """What one request contributes; a pure function of the event (see :func:`request_features`)."""

    ts: float
    request_id: str
    rid_hash: int
    family: int
    elicit: float
    forced_format: bool
    sys_elicit: bool
    followup: bool
    phash: int
    frame_key: int
    """features.text.frame, hashed: the template frame of the prompt."""
    pkeys: tuple[int, ...]
    """Content-pool keys: features.text.pool_segments, hashed."""
    client: str
    ip: str | None
    subnet: str | None
    datacenter: bool
    user_agent: str | None
    conversation_id: str | None
    pt: int
    ct: int
    rt: int


@lru_cache(maxsize=32_768)
def _text_features(prompt: str, system_prompt: str | None) -> tuple[int, float, bool, bool, bool, int, tuple[int, ...], int]:
    """Regex features of one prompt, memoised: real traffic repeats prompts (retries, products)."""
    flags = text.elicitation_flags(prompt, system_prompt)
    forced = "forced_format" in flags or "system:forced_format" in flags
    sys_el = bool(flags & {"system:cot", "system:full_trace", "system:forced_format"})
    fam = FAMILY_INDEX.get(text.task_family(prompt), len(FAMILIES) - 1)
    return (fam, text.elicitation_score(flags), forced, sys_el, text.is_followup(prompt), hash64(prompt),
            tuple(hash64(t) for t in text.pool_segments(prompt)), hash64(text.frame(prompt)))


_client = lru_cache(maxsize=4096)(text.client_kind)


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return float(value)


def request_features(ev: dict[str, Any], ts: float | None = None) -> RequestFeatures:
    """Per-request features of a canonical event dict (``ts`` as datetime or epoch seconds,
    or given parsed as ``ts``)."""
    prompt = ev.get("prompt") or ""
    sp = ev.get("system_prompt")
    if len(prompt) <= 4096 and (sp is None or len(sp) <= 4096):
        fam, elicit, forced, sys_el, fu, ph, pk, fk = _text_features(prompt, sp)
    else:
        fam, elicit, forced, sys_el, fu, ph, pk, fk = _text_features.__wrapped__(prompt, sp)
    ua = ev.get("user_agent")
    ip = ev.get("ip")
    m = _SUBNET.match(ip) if ip else None
    rid = str(ev["request_id"])
    return RequestFeatures(
        ts=_ts(ev["ts"]) if ts is None else ts, request_id=rid, rid_hash=hash64(rid), family=fam, elicit=elicit, forced_format=forced,
        sys_elicit=sys_el, followup=fu, phash=ph, frame_key=fk, pkeys=pk,
        client=_client(ua) if ua is None or len(ua) <= 512 else text.client_kind(ua),
        ip=ip, subnet=m.group(1) if m else None,
        datacenter=bool(ip) and ip.startswith(DATACENTER_PREFIXES), user_agent=ua,
        conversation_id=ev.get("conversation_id"),
        pt=int(ev.get("prompt_tokens") or 0), ct=int(ev.get("completion_tokens") or 0),
        rt=int(ev.get("reasoning_tokens") or 0),
    )


class Distinct:
    """Exact distinct count up to ``DISTINCT_EXACT`` values, then a k-minimum-values estimate.

    One structure serves both regimes: the ``DISTINCT_EXACT`` smallest hashes seen, kept
    sorted in a packed ``array('Q')`` (8 bytes a value, against about 90 in a set of Python
    ints: the guard holds one of these per account and kind). Below the bound it holds every
    value, so the count is exact; past it, it is the KMV sketch. Bounded memory per account
    whatever the account sends; mergeable (the union's smallest values)."""

    __slots__ = ("values", "saturated")

    def __init__(self) -> None:
        self.values = array("Q")
        self.saturated = False

    def add(self, h: int) -> None:
        v = self.values
        i = bisect_left(v, h)
        if i < len(v) and v[i] == h:
            return
        if not self.saturated:
            v.insert(i, h)
            if len(v) > DISTINCT_EXACT:
                v.pop()
                self.saturated = True
        elif i < len(v):
            v.insert(i, h)
            v.pop()

    def merge(self, other: "Distinct") -> None:
        for h in other.values:
            self.add(h)
        self.saturated |= other.saturated  # the union of two sketches is a sketch

    def count(self) -> int:
        if not self.saturated:
            return len(self.values)
        return int(round((DISTINCT_EXACT - 1) * _MAX64 / max(1.0, float(self.values[-1]))))

    def to_state(self) -> list[Any]:
        return [self.values.tolist(), self.saturated]

    @classmethod
    def from_state(cls, st: list[Any]) -> "Distinct":
        d = cls()
        d.values = array("Q", sorted(st[0]))
        d.saturated = bool(st[1])
        return d

    def copy(self) -> "Distinct":
        d = Distinct()
        d.values, d.saturated = array("Q", self.values), self.saturated
        return d


class AccountAggregate:
    """Mergeable per-account state whose :meth:`row` equals one row of DuckDB's account features."""

    __slots__ = (
        "account_id", "n", "first_ts", "last_ts", "pt", "ct", "rt", "elicit_hits", "format_hits", "sys_hits",
        "elicit_sum", "followups", "prompts", "hours", "ips", "subnets", "datacenter", "uas", "http_lib", "browser",
        "sdk", "last_ua", "gap_n", "gap_mean", "gap_m2", "gap_max", "bursts", "day", "day_mask", "day_n",
        "max_day_hours", "active_days", "max_day_requests", "fam", "conv", "multi_turn", "ex_any", "ex_elicit",
        "pool_hits", "pool_seen", "recent_keys", "frames", "n_framed", "n_frames", "top_frame",
    )

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.n = 0
        self.first_ts = self.last_ts = 0.0
        self.pt = self.ct = self.rt = 0
        self.elicit_hits = self.format_hits = self.sys_hits = self.followups = 0
        self.elicit_sum = 0.0
        self.prompts, self.ips, self.subnets, self.uas = Distinct(), Distinct(), Distinct(), Distinct()
        self.hours = 0  # bit mask of hours of day seen
        self.datacenter = self.http_lib = self.browser = self.sdk = 0
        self.last_ua: str | None = None
        self.gap_n, self.gap_mean, self.gap_m2, self.gap_max, self.bursts = 0, 0.0, 0.0, 0.0, 0
        self.day, self.day_mask, self.day_n = -1, 0, 0
        self.max_day_hours = self.active_days = self.max_day_requests = 0
        self.fam = [0] * len(FAMILIES)
        self.conv: dict[str, int] = {}
        self.multi_turn = 0
        self.ex_any: list[tuple[int, str]] = []
        self.ex_elicit: list[tuple[int, str]] = []
        self.pool_hits = self.pool_seen = 0
        self.frames: dict[int, int] = {}
        """Template frame → count, at most FRAME_SLOTS frames (a full table forgets a frame seen once)."""
        self.n_framed = self.n_frames = self.top_frame = 0
        """Kept as the counts change: prompts in frames used ≥ FRAME_MIN times, such frames, the largest count."""
        self.recent_keys = array("Q")
        """The last ``RECENT_KEYS`` content-pool keys: what feeds the pool if this account is flagged."""

    # ------------------------------------------------------------------ update
    def update(self, f: RequestFeatures) -> None:
        """Fold one request in. Events are expected in time order; a late one counts a zero gap."""
        if self.n:
            d = max(0.0, f.ts - self.last_ts)
            self.gap_n += 1
            delta = d - self.gap_mean
            self.gap_mean += delta / self.gap_n
            self.gap_m2 += delta * (d - self.gap_mean)
            self.gap_max = max(self.gap_max, d)
            self.bursts += d < 1.0
        else:
            self.first_ts = f.ts
        self.last_ts = max(self.last_ts, f.ts)
        self.n += 1
        self.pt += f.pt
        self.ct += f.ct
        self.rt += f.rt
        self.elicit_hits += f.elicit >= ELICIT_LEVEL
        self.elicit_sum += f.elicit
        self.format_hits += f.forced_format
        self.sys_hits += f.sys_elicit
        self.followups += f.followup
        self.prompts.add(f.phash)
        day, hour = divmod(int(f.ts // 3600), 24)
        self.hours |= 1 << hour
        if day != self.day and day > self.day:
            self.day, self.day_mask, self.day_n = day, 0, 0
            self.active_days += 1
        if day == self.day:
            self.day_mask |= 1 << hour
            self.day_n += 1
            self.max_day_hours = max(self.max_day_hours, self.day_mask.bit_count())
            self.max_day_requests = max(self.max_day_requests, self.day_n)
        if f.ip:
            self.ips.add(hash64(f.ip))
        if f.subnet:
            self.subnets.add(hash64(f.subnet))
        self.datacenter += f.datacenter
        if f.user_agent is not None:
            self.uas.add(hash64(f.user_agent))
            self.last_ua = f.user_agent
        self.http_lib += f.client == "http_lib"
        self.browser += f.client == "browser"
        self.sdk += f.client == "sdk"
        self.fam[f.family] += 1
        if f.conversation_id is not None:
            c = self.conv.get(f.conversation_id, 0) + 1
            if c == 1 and len(self.conv) >= MAX_CONVERSATIONS:
                self.conv.pop(next(iter(self.conv)))
            self.conv[f.conversation_id] = c
            self.multi_turn += 2 if c == 2 else 1 if c > 2 else 0
        c = self.frames.get(f.frame_key)
        if c is not None:
            c += 1
            self.frames[f.frame_key] = c
            if c == FRAME_MIN:
                self.n_frames += 1
                self.n_framed += c
            elif c > FRAME_MIN:
                self.n_framed += 1
            if c > self.top_frame:
                self.top_frame = c
        elif len(self.frames) < FRAME_SLOTS:
            self.frames[f.frame_key] = 1
        else:  # keep repeated frames: drop the oldest frame seen only once, if any
            once = next((k for k, v in self.frames.items() if v == 1), None)
            if once is not None:
                del self.frames[once]
                self.frames[f.frame_key] = 1
        if not self.top_frame:
            self.top_frame = 1
        if f.pkeys:
            self.pool_seen += 1
            self.recent_keys.extend(f.pkeys)
            if len(self.recent_keys) > RECENT_KEYS:
                del self.recent_keys[: len(self.recent_keys) - RECENT_KEYS]
        _keep_smallest(self.ex_any, (f.rid_hash, f.request_id))
        if f.elicit >= ELICIT_LEVEL:
            _keep_smallest(self.ex_elicit, (f.rid_hash, f.request_id))

    def merge(self, other: "AccountAggregate") -> None:
        """Fold another aggregate in (a union of two event streams): counts add, gap moments
        combine (Chan et al.), distinct counters unite. Day features keep the larger of the two."""
        if other.n == 0:
            return
        if self.n == 0:
            for k in self.__slots__[1:]:
                v = getattr(other, k)
                setattr(self, k, v.copy() if isinstance(v, (list, dict, Distinct)) else array("Q", v)
                        if isinstance(v, array) else v)
            return
        n1, n2 = self.gap_n, other.gap_n
        if n1 + n2:
            d = other.gap_mean - self.gap_mean
            self.gap_mean = (n1 * self.gap_mean + n2 * other.gap_mean) / (n1 + n2)
            self.gap_m2 += other.gap_m2 + d * d * n1 * n2 / (n1 + n2)
        self.gap_n = n1 + n2
        self.gap_max = max(self.gap_max, other.gap_max)
        for k in ("n", "pt", "ct", "rt", "elicit_hits", "format_hits", "sys_hits", "followups", "elicit_sum",
                  "datacenter", "http_lib", "browser", "sdk", "bursts", "multi_turn", "pool_hits", "pool_seen"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)
        self.hours |= other.hours
        for k in ("max_day_hours", "active_days", "max_day_requests"):
            setattr(self, k, max(getattr(self, k), getattr(other, k)))
        for k in ("prompts", "ips", "subnets", "uas"):
            getattr(self, k).merge(getattr(other, k))
        self.fam = [a + b for a, b in zip(self.fam, other.fam)]
        for k, c in other.frames.items():
            if k in self.frames or len(self.frames) < FRAME_SLOTS:
                self.frames[k] = self.frames.get(k, 0) + c
        big = [c for c in self.frames.values() if c >= FRAME_MIN]
        self.n_frames, self.n_framed = len(big), sum(big)
        self.top_frame = max(self.frames.values(), default=0)
        for c, t in other.conv.items():
            self.conv[c] = self.conv.get(c, 0) + t
        for ex, oth in ((self.ex_any, other.ex_any), (self.ex_elicit, other.ex_elicit)):
            for item in oth:
                _keep_smallest(ex, item)
        self.recent_keys = (self.recent_keys + other.recent_keys)[-RECENT_KEYS:]

    # ------------------------------------------------------------------- read
    def row(self, profile: dict[str, Any] | None = None, accounts_on_card: int = 0) -> dict[str, Any]:
        """The account-features row (features/account.py names), with the account's profile."""
        n = self.n
        p = profile or {}
        nz = [c for c in self.fam if c]
        top = max(range(len(self.fam)), key=self.fam.__getitem__) if n else 0
        ent = -sum((c / n) * math.log(c / n) for c in nz) if n else None
        distinct = min(self.prompts.count(), n)
        return {
            "account_id": self.account_id, "n": n,
            "first_ts": _dt(self.first_ts), "last_ts": _dt(self.last_ts),
            "prompt_tokens": float(self.pt), "completion_tokens": float(self.ct), "reasoning_tokens": float(self.rt),
            "elicit_share": self.elicit_hits / n if n else 0.0, "format_share": self.format_hits / n if n else 0.0,
            "sys_elicit_share": self.sys_hits / n if n else 0.0, "elicit_mean": self.elicit_sum / n if n else 0.0,
            "followup_share": self.followups / n if n else 0.0, "distinct_prompts": distinct,
            "active_hours": self.hours.bit_count(), "n_ips": self.ips.count(), "n_subnets": self.subnets.count(),
            "datacenter_share": self.datacenter / n if n else 0.0, "n_user_agents": self.uas.count(),
            "http_lib_share": self.http_lib / n if n else 0.0, "browser_share": self.browser / n if n else 0.0,
            "sdk_share": self.sdk / n if n else 0.0, "last_user_agent": self.last_ua,
            "ex_any": [r for _, r in self.ex_any], "ex_elicit": [r for _, r in self.ex_elicit] or None,
            "gap_mean": self.gap_mean if self.gap_n else None,
            "gap_sd": math.sqrt(self.gap_m2 / self.gap_n) if self.gap_n else None,
            "n_gaps": self.gap_n, "gap_max": self.gap_max if self.gap_n else None,
            "burst_share": self.bursts / self.gap_n if self.gap_n else 0.0,
            "max_day_hours": self.max_day_hours, "active_days": self.active_days,
            "max_day_requests": self.max_day_requests,
            "fam_entropy": ent, "n_families": len(nz), "top_family_share": self.fam[top] / n if n else None,
            "top_family": FAMILIES[top] if n else None,
            "n_conversations": len(self.conv), "multi_turn_share": self.multi_turn / n if n else 0.0,
            "created_at": p.get("created_at"), "email": p.get("email"),
            "payment_fingerprint": p.get("payment_fingerprint"), "country": p.get("country"),
            "signup_ip": p.get("signup_ip"), "verified": p.get("verified"), "tier": p.get("tier"),
            "accounts_on_card": accounts_on_card,
            "pool_hits": self.pool_hits, "pool_seen": self.pool_seen,
            "n_framed": self.n_framed, "n_frames": self.n_frames, "top_frame": self.top_frame or None,
        }

    # -------------------------------------------------------------- persistence
    def to_state(self) -> list[Any]:
        """A JSON-able snapshot (the guard's state store)."""
        out: list[Any] = []
        for k in self.__slots__:
            v = getattr(self, k)
            out.append(v.to_state() if isinstance(v, Distinct) else list(v.items()) if k == "frames"
                       else v.tolist() if isinstance(v, array) else v)
        return out

    @classmethod
    def from_state(cls, st: list[Any]) -> "AccountAggregate":
        a = cls(st[0])
        for k, v in zip(cls.__slots__, st):
            if isinstance(getattr(a, k), Distinct):
                v = Distinct.from_state(v)
            elif k == "recent_keys":
                v = array("Q", v)
            elif k in ("ex_any", "ex_elicit"):
                v = [tuple(x) for x in v]
            elif k in ("frames", "conv"):
                v = {(int(a) if k == "frames" else a): b for a, b in (v.items() if isinstance(v, dict) else v)}
            setattr(a, k, v)
        return a


def _keep_smallest(ex: list[tuple[int, str]], item: tuple[int, str]) -> None:
    if len(ex) < EXAMPLES:
        if item not in ex:
            ex.append(item)
            ex.sort()
    elif item < ex[-1] and item not in ex:
        ex[-1] = item
        ex.sort()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
