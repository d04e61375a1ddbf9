"""Per-account keyed lexical watermark: no logits, works on any provider's text.

**Marking.** Every occurrence of a variant from :mod:`distillguard.protect.lexicon` is a
*site*. Its *context* is the word just before it (for a multiplication sign, the left
operand). For each site, an HMAC of the context under the provider's key decides who owns
it: about ``account_share`` of contexts carry the *account* mark (variant chosen by an HMAC
of the context under that account's key), the rest the *provider* mark (variant chosen
under the provider's key, the same for every account). The provider mark says "trained on
our outputs" even when a harvest is spread over hundreds of accounts; the account mark says
*which* account leaked. The choice depends only on (key, group, context), so a model that
learns our text learns the choice: "after *she* write *purchased*, not *bought*".

**Detection.** Sites of a suspect's texts are grouped into clusters by (group, context).
Cluster ``c`` contributes ``w_c·d_c``, ``d_c = p_c[keyed] − r_c[keyed]``: the share of its
occurrences that use the keyed variant, minus what a reference predicts (uniform ``1/k`` by default, or
the shares in our own unmarked outputs, :class:`Reference`). Under the null hypothesis
(the text was written without our key) the key's choice is uniform over the ``k`` variants
and independent of the text, so, conditionally on the text, ``E d_c = 0`` exactly, and
clusters are independent (distinct HMAC inputs). The p-value is Hoeffding's bound on the sum,
valid at any sample size; ``z`` (the sum over its exact conditional standard deviation) is
reported for reading. A cluster counts once, with weight ``1 + ln(occurrences)`` (a function
of the text, not of the key), so a suspect that repeats one phrase cannot fake evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from distillguard.protect.lexicon import GROUPS, Group

_CODE_LINE = re.compile(r"[;{}]\s*$|^\s*(?:def |class |import |from \w+ import|return\b|for\s*\(|if\s*\(|#include|public |print\()"
                        r"|^\s{4,}\S|=>|\)\s*\{|^\s*//")
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_PREV_WORD = re.compile(r"([A-Za-z0-9]+(?:['’][a-z]+)?)[^A-Za-z0-9\n]*$")
_LEFT_NUM = re.compile(r"(\d{1,4})\s?$")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_LAST_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][a-z]+)?")

def _variant_regex(v: str) -> str:
    return re.escape(v).replace("'", "['’]").replace(r"\ ", r"\s+")

def _group_regex(g: Group) -> str:
    if g.symbol:
        alts = "|".join(re.escape(v.strip()) for v in sorted(g.variants, key=len, reverse=True))
        return rf"(?:(?<=\d)|(?<=\d ))(?:{alts})(?= ?\d)"
    alts = "|".join(_variant_regex(v) for v in sorted(g.variants, key=len, reverse=True))
    lb = "".join(f"(?<!\\b{re.escape(b)})" for b in g.before)
    la = f"(?!{g.after})" if g.after else ""
    return rf"{lb}(?<![\w'’])(?:{alts})(?![\w'’]){la}"

# Candidate tokens are found with one cheap scan; only tokens that can start a variant are
# tried against their groups' patterns (``match`` at the token: lookbehinds still see the
# text before it).
_PATTERNS = [re.compile(_group_regex(g), re.I) for g in GROUPS]
_FIRST: dict[str, list[int]] = {}
for _i, _g in enumerate(GROUPS):
    for _v in _g.variants:
        _w = re.split(r"[\s'’]", _v.strip())[0].lower()
        if _i not in _FIRST.setdefault(_w, []):
            _FIRST[_w].append(_i)

_TOKEN = re.compile(r"[A-Za-z]+|\*")
_GROUP = {g.gid: g for g in GROUPS}
_INDEX = {g.gid: {re.sub(r"\s+", " ", v.strip().lower()): j for j, v in enumerate(g.variants)} for g in GROUPS}

def looks_like_code(text: str) -> bool:
    """True when a text (outside ``` fences) is mostly code: it is then left unmarked."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return False
    hits = sum(1 for ln in lines if _CODE_LINE.search(ln))
    return hits >= max(2, 0.3 * len(lines))

def _prose_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that may be marked: outside code fences, and not code-looking."""
    spans, pos = [], 0
    for m in _FENCE.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    return [(a, b) for a, b in spans if b > a and not looks_like_code(text[a:b])]

@dataclass(frozen=True, slots=True)
class Site:
    gid: str
    k: int
    context: str
    variant: int  # index of the variant found
    start: int
    end: int
    source: bool  # may be rewritten

def find_sites(text: str) -> list[Site]:
    """Every watermark site in ``text``, in order."""
    out: list[Site] = []
    for a, b in _prose_spans(text):
        nxt = a
        for t in _TOKEN.finditer(text, a, b):
            if t.start() < nxt:
                continue
            cands = _FIRST.get(t.group().lower())
            if not cands:
                continue
            m = None
            for gi in cands:
                m = _PATTERNS[gi].match(text, t.start(), b)
                if m:
                    break
            if m is None:
                continue
            g = GROUPS[gi]
            s, e = m.span()
            nxt = e
            found = re.sub(r"\s+", " ", m.group().strip().lower()).replace("’", "'")
            j = _INDEX[g.gid].get(found)
            if j is None:
                continue
            if g.symbol:
                cm = _LEFT_NUM.search(text, max(0, s - 6), s)
                ctx = cm.group(1) if cm else "^"
            else:
                pm = _PREV_WORD.search(text, max(0, s - 48), s)
                ctx = pm.group(1).lower().replace("’", "'") if pm else "^"
            src = g.sources is None or g.variants[j] in g.sources
            out.append(Site(g.gid, g.k, ctx, j, s, e, src))
    return out

def _pick(key: bytes, gid: str, ctx: str, k: int) -> int:
    d = hmac.digest(key, f"{gid}\x1f{ctx}".encode(), "sha256")
    return int.from_bytes(d[:8], "big") % k

def _case_like(src: str, new: str) -> str:
    core = src.strip()
    if len(core) > 1 and core.isupper():
        new = new.upper()
    elif core[:1].isupper():
        new = new[:1].upper() + new[1:]
    return new

@dataclass
class Marked:
    text: str
    sites: int
    changed: int

@dataclass
class WatermarkScore:
    """The watermark test for one key on a set of texts."""

    owner: str  # "provider" or an account id
    sites: int  # occurrences counted
    clusters: int  # distinct (group, context) pairs
    matched: float  # Σ f_c: share of each cluster's occurrences using the keyed variant
    expected: float  # Σ r_c[keyed]: what the reference (or 1/k) predicts
    z: float
    p_value: float
    match_rate: float = field(default=0.0)  # matched / clusters

    def to_dict(self) -> dict[str, float | int | str]:
        return {"owner": self.owner, "sites": self.sites, "clusters": self.clusters, "matched": round(self.matched, 3),
                "expected": round(self.expected, 3), "match_rate": round(self.match_rate, 4), "z": round(self.z, 3),
                "p_value": self.p_value}

class Clusters:
    """Sites of a suspect's texts grouped by (group, context), split by owner (provider/account)."""

    def __init__(self, wm: "Watermark", texts: Iterable[str]) -> None:
        counts: dict[tuple[str, str], list[int]] = {}
        ks: dict[str, int] = {}
        n = 0
        for t in texts:
            for s in find_sites(t):
                c = counts.get((s.gid, s.context))
                if c is None:
                    c = counts[(s.gid, s.context)] = [0] * s.k
                    ks[s.gid] = s.k
                c[s.variant] += 1
                n += 1
        self.provider: list[tuple[str, str, list[int]]] = []
        self.account: list[tuple[str, str, list[int]]] = []
        self.sites_provider = self.sites_account = 0
        for (gid, ctx), c in counts.items():
            if wm.owner_is_account(gid, ctx):
                self.account.append((gid, ctx, c))
                self.sites_account += sum(c)
            else:
                self.provider.append((gid, ctx, c))
                self.sites_provider += sum(c)
        self.sites = n

class Reference:
    """Variant shares of unmarked text written without our key (e.g. our own model's outputs
    before marking): the suspect's expected word choices had it never seen our marks.

    Any reference independent of the key keeps the test valid; a good one removes the
    natural preference for one variant and so most of the noise. Shares are smoothed toward
    the group's overall shares (``alpha`` pseudo-counts); unseen groups use uniform shares."""

    def __init__(self, texts: Iterable[str] = (), alpha: float = 2.0) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.groups: dict[str, list[float]] = {}
        self.alpha = alpha
        for t in texts:
            for s in find_sites(t):
                c = self.counts.get((s.gid, s.context))
                if c is None:
                    c = self.counts[(s.gid, s.context)] = [0] * s.k
                c[s.variant] += 1
                g = self.groups.setdefault(s.gid, [1.0] * s.k)
                g[s.variant] += 1

    def shares(self, gid: str, ctx: str, k: int) -> list[float]:
        g = self.groups.get(gid)
        base = [x / sum(g) for x in g] if g else [1.0 / k] * k
        c = self.counts.get((gid, ctx))
        if not c:
            return base
        n = sum(c)
        return [(c[v] + self.alpha * base[v]) / (n + self.alpha) for v in range(k)]

UNIFORM = Reference()

def _score(owner: str, key: bytes, clusters: list[tuple[str, str, list[int]]], sites: int,
           ref: Reference = UNIFORM) -> WatermarkScore:
    """Σ_c w_c (p_c[keyed] − r_c[keyed]): mean 0 over a uniform key whatever the text. Weights
    ``w_c = 1 + ln(n_c)`` (n_c: occurrences of the context) depend on the text only, never on the
    key, so they keep the null exact while giving contexts the suspect uses often a little more
    say. The p-value is Hoeffding's bound exp(−2 s² / Σ (w_c range_c)²), valid at any sample
    size (no normal approximation); z, the standardised statistic, is for reading only."""
    stat = var = rng2 = matched = expected = 0.0
    for gid, ctx, c in clusters:
        k, tot = len(c), sum(c)
        r = ref.shares(gid, ctx, k)
        w = 1.0 + math.log(tot)
        d = [w * (c[v] / tot - r[v]) for v in range(k)]
        j = _pick(key, gid, ctx, k)
        stat += d[j]
        var += sum(x * x for x in d) / k - (sum(d) / k) ** 2
        rng2 += (max(d) - min(d)) ** 2
        matched += c[j] / tot
        expected += r[j]
    z = stat / math.sqrt(var) if var > 1e-12 else 0.0
    p = math.exp(-2.0 * stat * stat / rng2) if stat > 0 and rng2 > 1e-12 else 1.0
    n = len(clusters)
    return WatermarkScore(owner, sites, n, matched, expected, z, p, matched / n if n else 0.0)

class Watermark:
    """The keyed marker and its detector. ``secret`` is the provider's protect key."""

    def __init__(self, secret: bytes, account_share: float = 0.5) -> None:
        if len(secret) < 16:
            raise ValueError("the protect secret must be at least 16 bytes")
        self.provider_key = hmac.new(secret, b"distillguard/wm/provider", hashlib.sha256).digest()
        self._sel_key = hmac.new(secret, b"distillguard/wm/select", hashlib.sha256).digest()
        self._secret = secret
        self.account_share = account_share
        self._cut = int(account_share * 2**32)
        self._akeys: dict[str, bytes] = {}

    def set_account_share(self, share: float) -> None:
        if not 0 < share < 1:
            raise ValueError("account_share must be in (0, 1)")
        self.account_share, self._cut = share, int(share * 2**32)

    def account_key(self, account_id: str) -> bytes:
        key = self._akeys.get(account_id)
        if key is None:
            key = hmac.new(self._secret, b"distillguard/wm/account\x1f" + account_id.encode(), hashlib.sha256).digest()
            if len(self._akeys) < 100_000:
                self._akeys[account_id] = key
        return key

    def owner_is_account(self, gid: str, ctx: str) -> bool:
        d = hmac.digest(self._sel_key, f"{gid}\x1f{ctx}".encode(), "sha256")
        return int.from_bytes(d[:4], "big") < self._cut

    def choice(self, account_id: str | None, gid: str, ctx: str, k: int) -> int:
        """The keyed variant index for a site (account_id None: the provider's mark only)."""
        if account_id is not None and self.owner_is_account(gid, ctx):
            return _pick(self.account_key(account_id), gid, ctx, k)
        return _pick(self.provider_key, gid, ctx, k)

    def apply(self, text: str, account_id: str | None) -> Marked:
        """Rewrite every rewritable site into its keyed variant for ``account_id``.

        One pass, left to right. A rewrite can change the context of the site right after it
        ("so bought" → "thus purchased": the second site's context is "thus"), so a site whose
        context is the previous site takes the context from that site's new text: the result
        is stable under its own detector (``apply`` twice changes nothing)."""
        sites = find_sites(text)
        if not sites:
            return Marked(text, 0, 0)
        parts, pos, changed = [], 0, 0
        prev_end, prev_ctx = -1, None  # end of the previous site and its word as written now
        for s in sites:
            ctx = s.context
            if prev_ctx is not None and not _GROUP[s.gid].symbol and not _ALNUM.search(text, prev_end, s.start):
                ctx = prev_ctx
            g = _GROUP[s.gid]
            old = text[s.start:s.end]
            new = old
            if s.source:
                j = self.choice(account_id, s.gid, ctx, s.k)
                if j != s.variant:
                    new = (old.replace(g.variants[s.variant].strip(), g.variants[j].strip()) if g.symbol
                           else _case_like(old, g.variants[j]))
                    parts += [text[pos:s.start], new]
                    pos = s.end
                    changed += 1
            words = _LAST_WORD.findall(new)
            prev_ctx = words[-1].lower().replace("’", "'") if words and not g.symbol else None
            prev_end = s.end
        parts.append(text[pos:])
        return Marked("".join(parts), len(sites), changed)

    def clusters(self, texts: Iterable[str]) -> Clusters:
        return Clusters(self, texts)

    def score_provider(self, cl: Clusters, ref: Reference = UNIFORM) -> WatermarkScore:
        return _score("provider", self.provider_key, cl.provider, cl.sites_provider, ref)

    def score_account(self, cl: Clusters, account_id: str, ref: Reference = UNIFORM) -> WatermarkScore:
        return _score(account_id, self.account_key(account_id), cl.account, cl.sites_account, ref)
