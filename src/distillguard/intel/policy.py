"""The sharing policy guard: nothing leaves unless the policy allows it.

Deny by default. A :class:`SharingPolicy` (TOML; the packaged default is
``default_policy.toml``) lists the STIX object types and, per type, the only properties
allowed, the indicator kinds, and the TLP 2.0 levels. :func:`check_bundle` returns every
problem it finds as a :class:`PolicyIssue` (it never raises on bad content, so a hub can
report all problems at once); :func:`enforce` raises :class:`PolicyViolation` instead.

Structural rules are not enough: a permitted ``name`` could still carry an email. So every
string in the bundle also goes through :func:`scan_text`, which refuses raw personal data
(emails, IPv4/IPv6 addresses, card numbers), long free text, anything that reads like a
prompt, and competitively sensitive terms (prices, revenue, tiers, customer lists: the
antitrust line is "technical indicators only"). Indicator patterns must be exactly one
keyed digest or keyed sketch in the ``x-llm-api-client`` form, so a raw value can't pass
as an indicator either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from distillguard.config import parse_toml
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from distillguard.errors import ConfigError, PolicyViolation
from distillguard.intel import vocab

DEFAULT_POLICY = "default_policy.toml"
# a provider's own raw identifier formats (account ids, payment fingerprints, customer ids)
DEFAULT_RAW_ID_PATTERNS = (r"acct_[A-Za-z0-9_\-]{3,}", r"fp_[A-Za-z0-9_\-]{3,}", r"cus_[A-Za-z0-9]{6,}",
                           r"pm_[A-Za-z0-9]{6,}", r"org-[A-Za-z0-9]{12,}")


@dataclass(frozen=True)
class PolicyIssue:
    """One reason a bundle may not leave: where (a JSON path), what rule, and why."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} ({self.code})"


@dataclass(frozen=True)
class SharingPolicy:
    """A parsed sharing policy. ``digest`` identifies the exact text for the audit log."""

    name: str
    version: str
    types: dict[str, frozenset[str]]
    allowed_tlp: frozenset[str]
    allowed_kinds: frozenset[str]
    require_tlp: bool = True
    max_text_chars: int = 280
    max_words: int = 30
    max_objects: int = 5000
    min_confidence: int = 0
    max_confidence: int = 100
    deny_terms: tuple[str, ...] = ()
    oprf_kinds: frozenset[str] = frozenset({"email", "payment", "ip", "subnet"})
    raw_id_patterns: tuple[str, ...] = DEFAULT_RAW_ID_PATTERNS
    max_key_chars: int = 64
    max_structural_chars: int = 128
    digest: str = ""
    source: str = ""
    _deny_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _raw_id_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _scan_cache: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def allowed_tlp_ids(self) -> frozenset[str]:
        return frozenset(vocab.TLP2_IDS[level] for level in self.allowed_tlp)


def _deny_regex(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = []
    for t in terms:
        esc = re.escape(t.lower())
        # word terms match whole words; symbols ($, €) match anywhere
        parts.append(rf"(?<!\w){esc}(?!\w)" if re.fullmatch(r"[\w ]+", t) else esc)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _raw_id_regex(patterns: tuple[str, ...], source: str) -> re.Pattern[str] | None:
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?<![A-Za-z0-9])(?:{p})" for p in patterns))
    except re.error as e:
        raise ConfigError(f"raw_id_patterns: not a regular expression: {e}", source=source) from e


def parse_policy(text: str, source: str = "<policy>") -> SharingPolicy:
    """Build a policy from TOML text; raises ConfigError naming the bad key."""
    doc = parse_toml(text, source)
    head = doc.get("policy")
    types = doc.get("types")
    if not isinstance(head, dict) or not isinstance(types, dict):
        raise ConfigError("a policy needs [policy] and [types] tables", source=source)
    for key in ("name", "version", "allowed_tlp", "allowed_indicator_kinds"):
        if key not in head:
            raise ConfigError(f"[policy] lacks {key!r}", source=source)
    bad_tlp = set(head["allowed_tlp"]) - set(vocab.TLP2_IDS)
    if bad_tlp:
        raise ConfigError(f"unknown TLP 2.0 levels {sorted(bad_tlp)}; use {list(vocab.TLP2_IDS)}", source=source)
    bad_kinds = set(head["allowed_indicator_kinds"]) - set(vocab.KIND_PROPERTY)
    if bad_kinds:
        raise ConfigError(f"unknown indicator kinds {sorted(bad_kinds)}; use {list(vocab.KIND_PROPERTY)}", source=source)
    for t, props in types.items():
        if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
            raise ConfigError(f"[types].{t} must be a list of property names", source=source)
    terms = tuple(str(t) for t in head.get("deny_terms", []))
    raw_ids = tuple(str(t) for t in head.get("raw_id_patterns", DEFAULT_RAW_ID_PATTERNS))
    try:
        return SharingPolicy(
            name=str(head["name"]),
            version=str(head["version"]),
            types={t: frozenset(p) for t, p in types.items()},
            allowed_tlp=frozenset(head["allowed_tlp"]),
            allowed_kinds=frozenset(head["allowed_indicator_kinds"]),
            require_tlp=bool(head.get("require_tlp", True)),
            max_text_chars=int(head.get("max_text_chars", 280)),
            max_words=int(head.get("max_words", 30)),
            max_objects=int(head.get("max_objects", 5000)),
            min_confidence=int(head.get("min_confidence", 0)),
            max_confidence=int(head.get("max_confidence", 100)),
            deny_terms=terms,
            oprf_kinds=frozenset(head.get("oprf_kinds", ["email", "payment", "ip", "subnet"])),
            raw_id_patterns=raw_ids,
            max_key_chars=int(head.get("max_key_chars", 64)),
            max_structural_chars=int(head.get("max_structural_chars", 128)),
            _raw_id_re=_raw_id_regex(raw_ids, source),
            digest=hashlib.sha256(text.encode()).hexdigest(),
            source=source,
            _deny_re=_deny_regex(terms),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad value in [policy]: {e}", source=source) from e


def load_policy(path: str | Path | None = None) -> SharingPolicy:
    """Load a policy file, or the packaged deny-by-default policy when ``path`` is None."""
    if path is None:
        text = resources.files("distillguard.intel").joinpath(DEFAULT_POLICY).read_text()
        return parse_policy(text, source=f"distillguard/intel/{DEFAULT_POLICY}")
    p = Path(path)
    if not p.exists():
        raise ConfigError("policy file not found", source=str(p))
    return parse_policy(p.read_text(), source=str(p))


# --- the raw-data scanner -------------------------------------------------------------
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# an IPv4 address anywhere, even glued to letters (host_10.28.64.202) or written with - or _
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\d]|\.\d)")
_IPV4_DASHED = re.compile(r"(?<!\d)(?<!\d[-_])(\d{1,3})[-_](\d{1,3})[-_](\d{1,3})[-_](\d{1,3})(?!\d)(?![-_]\d)")
_AT_WORD = re.compile(r"\s*[\[\(\{<]\s*(?:at|@)\s*[\]\)\}>]\s*|\s+at\s+(?=[\w\-]+\s*(?:[\[\(\{<]\s*dot\s*[\]\)\}>]|\.))",
                      re.IGNORECASE)
_DOT_WORD = re.compile(r"\s*[\[\(\{<]\s*dot\s*[\]\)\}>]\s*", re.IGNORECASE)
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2028-\u202f\u205f-\u206f\ufeff]")
_KEY = re.compile(r"^(?:[A-Za-z0-9_\-]{1,64}|extension-definition--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def normalise_text(text: str) -> str:
    """NFKC (full-width ＠ and digits become ASCII), invisible characters dropped, and
    spelled-out '[at]' / '(dot)' folded back, so disguised values are matched too."""
    t = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    if "at" in t.lower() or "dot" in t.lower():
        t = _DOT_WORD.sub(".", _AT_WORD.sub("@", t))
    return t
_IPV6_TOKEN = re.compile(r"(?<![\w:])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:/\d{1,3})?(?![\w:])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CARD = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
_PROMPT_START = re.compile(
    r"^\s*(please|write|explain|solve|translate|summari[sz]e|generate|describe|list|create|"
    r"you are|act as|give me|tell me|how (do|can|to)|what|why|which|imagine|compose|draft|rewrite|"
    r"step by step|think)\b",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total, alt = total + d, not alt
    return total % 10 == 0


def _ipv6_hits(text: str) -> list[str]:
    hits = []
    for m in _IPV6_TOKEN.finditer(text):
        tok = m.group(0).split("/")[0]
        if not any(c in "0123456789abcdefABCDEF" for c in tok):
            continue
        try:
            ipaddress.IPv6Address(tok)
        except ValueError:
            continue
        hits.append(tok)
    return hits


def _pii(text: str, policy: SharingPolicy) -> list[tuple[str, str]]:
    """Raw personal data and raw provider ids in already normalised text."""
    found: list[tuple[str, str]] = []
    if _EMAIL.search(text):
        found.append(("pii-email", "contains an email address"))
    no_uuid = _UUID.sub(" ", text)  # a UUID's digit runs are not addresses or card numbers
    for m in _IPV4.finditer(no_uuid):
        try:
            ipaddress.IPv4Address(m.group(0).split("/")[0])
        except ValueError:
            continue
        found.append(("pii-ip", "contains an IPv4 address"))
        break
    else:
        if any(all(int(g) <= 255 for g in m.groups()) for m in _IPV4_DASHED.finditer(no_uuid)):
            found.append(("pii-ip", "contains an IPv4 address written with dashes or underscores"))
    if _ipv6_hits(text):
        found.append(("pii-ip", "contains an IPv6 address"))
    for m in _CARD.finditer(no_uuid):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(("pii-card", "contains what looks like a payment card number"))
            break
    if policy._raw_id_re is not None and policy._raw_id_re.search(text):
        found.append(("raw-id", "contains a raw account, customer or payment identifier"))
    return found


def scan_text(text: str, policy: SharingPolicy) -> list[tuple[str, str]]:
    """Reasons (code, message) why a string must not leave; empty if it looks safe.

    Messages never repeat the offending value: the refusal itself may be logged or sent.
    """
    text = normalise_text(text)
    found = _pii(text, policy)
    words = text.split()
    if len(text) > policy.max_text_chars or len(words) > policy.max_words:
        found.append(("free-text", f"free text ({len(text)} chars, {len(words)} words) is not shared; "
                                   f"limit {policy.max_text_chars} chars / {policy.max_words} words"))
    elif len(words) >= 5 and (_PROMPT_START.search(text) or ("?" in text) or "\n" in text):
        found.append(("prompt-like", "looks like prompt or conversation text"))
    return found + _competitive(text, policy)


def _competitive(text: str, policy: SharingPolicy) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if policy._deny_re is not None:
        m = policy._deny_re.search(text)
        if m:
            found.append(("competitive", f"mentions a competitively sensitive topic ({m.group(0).strip()!r})"))
    return found


# --- structural checks ----------------------------------------------------------------
_KEY_ID = r"[a-z0-9][a-z0-9_.\-]{0,31}"
_HMAC_VALUE = re.compile(rf"^{_KEY_ID}:[0-9a-f]{{64}}$")
_SKETCH_VALUE = re.compile(rf"^{_KEY_ID}:mh(\d{{1,4}}):([0-9a-f]+)$")
_PATTERN = re.compile(r"^\[" + re.escape(vocab.CLIENT_SCO_TYPE) + r":([a-z_]+) = '([^'\\]*)'\]$")
# strings that are identifiers, timestamps or enumerations, checked structurally instead
_STRUCTURAL = {"type", "spec_version", "id", "created", "modified", "valid_from", "valid_until",
               "first_seen", "last_seen", "pattern", "pattern_type", "pattern_version",
               "created_by_ref", "source_ref", "target_ref", "sighting_of_ref", "relationship_type",
               "identity_class", "opinion", "extension_type", "tlp_2_0", "schema", "external_id",
               "url", "source_name", "version", vocab.PROP_KIND, vocab.PROP_CATEGORY, vocab.PROP_KEY_ID,
               vocab.PROP_DETECTOR_VERSION, vocab.PROP_POLICY_VERSION, "x_distillguard_signature"}
_REF_LISTS = {"object_marking_refs", "object_refs", "where_sighted_refs", "extension_types",
              "indicator_types", "labels", "sectors", "authors"}


def check_pattern(pattern: str, kind: str | None, policy: SharingPolicy) -> list[tuple[str, str]]:
    """Problems with an indicator pattern: it must be one keyed value of an allowed kind."""
    m = _PATTERN.match(pattern)
    if not m:
        return [("pattern-form", f"pattern must be [{vocab.CLIENT_SCO_TYPE}:<kind>_hmac = 'keyid:hex'] "
                                 "or a template_sketch; nothing else may be shared")]
    prop, value = m.groups()
    pkind = vocab.PROPERTY_KIND.get(prop)
    if pkind is None:
        return [("pattern-property", f"unknown indicator property {prop!r}")]
    issues = []
    if pkind not in policy.allowed_kinds:
        issues.append(("kind-denied", f"indicator kind {pkind!r} is not allowed by the policy"))
    if kind is not None and kind != pkind:
        issues.append(("kind-mismatch", f"{vocab.PROP_KIND} is {kind!r} but the pattern is {pkind!r}"))
    if pkind == "template":
        sm = _SKETCH_VALUE.match(value)
        if not sm or len(sm.group(2)) != int(sm.group(1)) * 8:
            issues.append(("pattern-value", "template sketch must be keyid:mh<N>:<8N hex digits>"))
    elif not _HMAC_VALUE.match(value):
        issues.append(("pattern-value", "value must be keyid:<64 hex digits> (an OPRF token or keyed HMAC-SHA256)"))
    elif pkind in policy.oprf_kinds and not value.startswith("oprf-"):
        issues.append(("pattern-reversible", f"{pkind} values have too little entropy for a shared-key HMAC "
                                             "(any member could enumerate them): share them as OPRF tokens "
                                             "(key id oprf-…, see docs/intel.md)"))
    return issues


def _strings(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str, str]]:
    """(path, last key, string) for every string under node, keys included (as '<key>').

    Iterative over lists and bounded in depth, so hostile nesting cannot crash the guard.
    """
    if depth > 32:
        yield path, "<depth>", ""
        return
    if isinstance(node, str):
        yield path, path.rsplit(".", 1)[-1].split("[")[0], node
    elif isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                continue
            shown = k if _KEY.match(k) else "<key>"
            yield f"{path}.{shown}", "<key>", k
            yield from _strings(v, f"{path}.{shown}", depth + 1)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]", depth + 1)


def _scan_field(key: str, s: str, policy: SharingPolicy) -> list[tuple[str, str]]:
    """Why one string found at ``key`` must not leave (every string goes through here).

    Memoised per (policy, key, string): a bundle repeats the same names, labels, refs and
    timestamps in every object, and the verdict depends on nothing else.
    """
    cache = policy._scan_cache
    hit = cache.get((key, s))
    if hit is None:
        hit = _scan_field_uncached(key, s, policy)
        if len(cache) > 200_000:
            cache.clear()
        if len(s) <= 4096:
            cache[(key, s)] = hit
    return list(hit)


_SIGNATURE_VALUE = re.compile(r"^ed25519:[A-Za-z0-9+/]{86}==$")
"""An Ed25519 signature (intel/signing.py): 64 random bytes in base64. Checked by form, never
scanned for words: random base64 spells "arr" or "usd" now and then."""


def _scan_field_uncached(key: str, s: str, policy: SharingPolicy) -> list[tuple[str, str]]:
    if key == "x_distillguard_signature":
        return [] if _SIGNATURE_VALUE.match(s) else [
            ("signature-form", "x_distillguard_signature must be ed25519:<base64 of a 64-byte signature>")]
    if key == "<depth>":
        return [("too-deep", "nested deeper than 32 levels")]
    if key == "<key>":
        text = normalise_text(s)
        hits = [] if _KEY.match(s) else [("key-form", f"property names must be 1-{policy.max_key_chars} letters, "
                                                      "digits, _ or -, or an extension-definition id")]
        return hits + _pii(text, policy) + _competitive(text, policy)
    if key in _STRUCTURAL or key in _REF_LISTS:
        # identifiers, timestamps, enumerations, labels: short, and never personal data
        text = normalise_text(s)
        hits = _pii(text, policy)
        limit = 2 * policy.max_structural_chars if key in ("url", "schema") else policy.max_structural_chars
        if len(text) > limit or len(text.split()) > 6:
            hits.append(("free-text", f"{key} values are short identifiers or labels (limit {limit} chars, 6 words)"))
        if key not in ("id", "created_by_ref", "source_ref", "target_ref", "sighting_of_ref", "schema", "url") \
                and key not in ("object_marking_refs", "object_refs", "where_sighted_refs", "extension_types"):
            hits += _competitive(text, policy)
        return hits
    return scan_text(s, policy)


def _check_object(i: int, obj: Any, policy: SharingPolicy, ids: set[str]) -> list[PolicyIssue]:
    path = f"objects[{i}]"
    if not isinstance(obj, dict):
        return [PolicyIssue(path, "not-object", "every bundle entry must be a JSON object")]
    issues: list[PolicyIssue] = []
    t = obj.get("type")
    allowed = policy.types.get(t) if isinstance(t, str) else None
    if allowed is None:
        return [PolicyIssue(path, "type-denied", f"object type {t!r} is not allowed by policy {policy.version}")]
    for prop in obj:
        if prop not in allowed:
            issues.append(PolicyIssue(f"{path}.{prop}", "property-denied",
                                      f"property {prop!r} of {t} is not allowed by policy {policy.version}"))
    if t == "marking-definition":
        if obj.get("id") not in vocab.TLP2_LEVEL_BY_ID:
            issues.append(PolicyIssue(path, "marking-denied", "only the published TLP 2.0 marking-definitions may be shared"))
        elif vocab.TLP2_LEVEL_BY_ID[obj["id"]] not in policy.allowed_tlp:
            issues.append(PolicyIssue(path, "tlp-denied", f"TLP level {vocab.TLP2_LEVEL_BY_ID[obj['id']]!r} is not allowed"))
        return issues
    if policy.require_tlp and t != "extension-definition" and obj.get("id") != vocab.DISTILLGUARD_IDENTITY_ID:
        marks = obj.get("object_marking_refs") or []
        tlp = [m for m in marks if m in vocab.TLP2_LEVEL_BY_ID]
        if not tlp:
            issues.append(PolicyIssue(f"{path}.object_marking_refs", "tlp-missing", "every object needs a TLP 2.0 marking"))
        for m in marks:
            if m not in policy.allowed_tlp_ids:
                level = vocab.TLP2_LEVEL_BY_ID.get(m, m)
                issues.append(PolicyIssue(f"{path}.object_marking_refs", "tlp-denied", f"marking {level!r} is not allowed"))
    if t == "indicator":
        kind = obj.get(vocab.PROP_KIND)
        if kind is not None and kind not in policy.allowed_kinds:
            issues.append(PolicyIssue(f"{path}.{vocab.PROP_KIND}", "kind-denied", f"indicator kind {kind!r} is not allowed"))
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            issues.append(PolicyIssue(f"{path}.pattern", "pattern-form", "indicator has no pattern"))
        else:
            for code, msg in check_pattern(pattern, kind if isinstance(kind, str) else None, policy):
                issues.append(PolicyIssue(f"{path}.pattern", code, msg))
    if t in ("indicator", "campaign", "opinion"):
        cat = obj.get(vocab.PROP_CATEGORY)
        if cat is not None and cat not in vocab.CATEGORIES:
            issues.append(PolicyIssue(f"{path}.{vocab.PROP_CATEGORY}", "category", f"category must be one of {vocab.CATEGORIES}"))
    conf = obj.get("confidence")
    if conf is not None and (not isinstance(conf, int) or not policy.min_confidence <= conf <= policy.max_confidence):
        issues.append(PolicyIssue(f"{path}.confidence", "confidence", "confidence must be an integer within the policy's range"))
    if isinstance(obj.get("id"), str):
        ids.add(obj["id"])
    for spath, key, s in _strings(obj, path):
        if key == "pattern":
            continue  # checked structurally above
        issues.extend(PolicyIssue(spath, code, msg) for code, msg in _scan_field(key, s, policy))
    return issues


def check_bundle(bundle: Any, policy: SharingPolicy) -> list[PolicyIssue]:
    """Every reason ``bundle`` (a STIX 2.1 bundle as a dict) may not be shared; [] if OK.

    Never raises on bad content: malformed input becomes issues, so callers (the CLI,
    the hub) can report all of them at once.
    """
    try:
        if not isinstance(bundle, dict):
            return [PolicyIssue("$", "not-bundle", "a bundle must be a JSON object")]
        issues: list[PolicyIssue] = []
        if bundle.get("type") != "bundle":
            issues.append(PolicyIssue("$.type", "not-bundle", "type must be 'bundle'"))
        extra = set(bundle) - {"type", "id", "objects", "spec_version"}
        if extra:
            issues.append(PolicyIssue("$", "property-denied", f"bundle properties {sorted(extra)} are not allowed"))
        objects = bundle.get("objects", [])
        if not isinstance(objects, list):
            return issues + [PolicyIssue("$.objects", "not-bundle", "objects must be a list")]
        if len(objects) > policy.max_objects:
            issues.append(PolicyIssue("$.objects", "too-many", f"{len(objects)} objects exceed the policy's {policy.max_objects}"))
        ids: set[str] = set()
        for i, obj in enumerate(objects):
            issues.extend(_check_object(i, obj, policy, ids))
        return issues
    except Exception as e:  # noqa: BLE001 - the contract is "never raises on bad content"
        return [PolicyIssue("$", "unreadable", f"bundle could not be checked: {type(e).__name__}")]


def enforce(bundle: Any, policy: SharingPolicy) -> None:
    """Raise PolicyViolation listing every issue if the bundle may not be shared."""
    issues = check_bundle(bundle, policy)
    if issues:
        shown = "\n  ".join(str(i) for i in issues[:20])
        more = f"\n  … and {len(issues) - 20} more" if len(issues) > 20 else ""
        raise PolicyViolation(
            f"bundle refused by sharing policy {policy.name!r} v{policy.version} "
            f"({len(issues)} issue(s)):\n  {shown}{more}",
            source=policy.source or None,
        )
