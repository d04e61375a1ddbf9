"""Normalise artefacts, then hash them under the consortium key: HMAC-SHA256 with key ids.

Two members holding the same card, email or IP must produce the same indicator, so every
value is normalised first (emails lowercased, plus-tags dropped, dots dropped for
gmail-like domains; IPs canonicalised; subnets cut to /24 or /48) and then hashed with
HMAC-SHA256 under the consortium key, domain-separated by kind. The output is
``keyid:hex`` so a receiver knows which key to use.

Keys rotate: a keyring (TOML) names the ``current`` key, used for everything new, and
older keys that stay valid for matching until their ``valid_until``. Matching hashes
local values under every valid key, so indicators made before a rotation still match.
Without the key nobody can test guesses against a digest (unlike plain SHA-256 of an
email, which falls to a dictionary attack in seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from distillguard.config import parse_toml
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from distillguard.errors import ConfigError, InputError

if TYPE_CHECKING:
    from distillguard.intel.oprf import OprfClient

GMAIL_LIKE = frozenset({"gmail.com", "googlemail.com"})
_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,31}$")


# --- normalisation ------------------------------------------------------------------
def normalise_email(value: str) -> str | None:
    """Lowercase, drop +tags, drop dots in gmail-like local parts; None if not an email."""
    v = value.strip().lower()
    if v.count("@") != 1:
        return None
    local, domain = v.split("@")
    domain = domain.rstrip(".")
    if not local or "." not in domain:
        return None
    local = local.split("+", 1)[0]
    if domain in GMAIL_LIKE:
        domain = "gmail.com"
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def normalise_ip(value: str) -> str | None:
    """Canonical text of an IP (IPv4-mapped IPv6 becomes IPv4); None if not an IP."""
    try:
        ip = ipaddress.ip_address(value.strip().split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.compressed


def normalise_subnet(value: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network holding an IP: proxies rotate inside one."""
    ip = normalise_ip(value)
    if ip is None:
        return None
    prefix = 24 if ":" not in ip else 48
    return ipaddress.ip_network(f"{ip}/{prefix}", strict=False).with_prefixlen


def normalise_payment(value: str) -> str | None:
    """Payment fingerprints are opaque tokens: trim only (they are case-sensitive)."""
    v = value.strip()
    return v or None


def normalise_client(value: str) -> str | None:
    """Lowercase and collapse whitespace in a client / SDK string."""
    v = " ".join(value.lower().split())
    return v or None


NORMALISERS: dict[str, Callable[[str], str | None]] = {
    "email": normalise_email,
    "payment": normalise_payment,
    "ip": normalise_ip,
    "subnet": normalise_subnet,
    "client": normalise_client,
}


def normalise(kind: str, value: str | None) -> str | None:
    """Normalised value of an artefact of ``kind``, or None if it is empty or invalid."""
    if value is None:
        return None
    if kind not in NORMALISERS:
        raise InputError(f"unknown artefact kind {kind!r}; use {sorted(NORMALISERS)}")
    return NORMALISERS[kind](str(value))


# --- keys -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes
    valid_until: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        return self.valid_until is None or when <= self.valid_until


@dataclass(frozen=True)
class Keyring:
    """The consortium keys a member holds: one current, older ones kept for matching."""

    current: str
    keys: dict[str, Key]

    @property
    def current_key(self) -> Key:
        return self.keys[self.current]

    def valid_keys(self, when: datetime | None = None) -> list[Key]:
        """Keys that may still be matched against: current first."""
        now = when or datetime.now(timezone.utc)
        others = [k for kid, k in sorted(self.keys.items()) if kid != self.current and k.valid_at(now)]
        return [self.current_key, *others]

    def get(self, key_id: str) -> Key | None:
        return self.keys.get(key_id)


def _secret(entry: dict[str, object], kid: str, source: str) -> bytes:
    if "secret_env" in entry:
        raw = os.environ.get(str(entry["secret_env"]))
        if not raw:
            raise ConfigError(f"key {kid}: environment variable {entry['secret_env']} is not set", source=source)
    elif "secret" in entry:
        raw = str(entry["secret"])
    else:
        raise ConfigError(f"key {kid}: needs 'secret' (hex) or 'secret_env'", source=source)
    try:
        secret = bytes.fromhex(raw)
    except ValueError as e:
        raise ConfigError(f"key {kid}: secret must be hex", source=source) from e
    if len(secret) < 16:
        raise ConfigError(f"key {kid}: secret must be at least 16 bytes", source=source)
    return secret


def parse_keyring(text: str, source: str = "<keyring>") -> Keyring:
    """Parse a keyring TOML: ``current = "id"`` and ``[keys.<id>] secret = "hex"``."""
    doc = parse_toml(text, source)
    current = doc.get("current")
    entries = doc.get("keys")
    if not isinstance(current, str) or not isinstance(entries, dict) or current not in entries:
        raise ConfigError("keyring needs current = \"<id>\" and a [keys.<id>] table for it", source=source)
    keys: dict[str, Key] = {}
    for kid, entry in entries.items():
        if not _KEY_ID.match(kid):
            raise ConfigError(f"key id {kid!r} must be lowercase letters, digits, . _ - (≤ 32)", source=source)
        until = entry.get("valid_until")
        if isinstance(until, str):
            until = datetime.fromisoformat(until)
        if isinstance(until, datetime) and until.tzinfo is None:
            until = until.replace(tzinfo=timezone.utc)
        elif until is not None and not isinstance(until, datetime):
            until = datetime(until.year, until.month, until.day, tzinfo=timezone.utc)
        keys[kid] = Key(kid, _secret(entry, kid, source), until)
    return Keyring(current, keys)


def load_keyring(path: str | Path) -> Keyring:
    p = Path(path)
    if not p.exists():
        raise ConfigError("keyring file not found (see docs/intel.md, 'Keys')", source=str(p))
    return parse_keyring(p.read_text(), source=str(p))


def keyring_toml(current: str, secrets: dict[str, str], valid_until: dict[str, str] | None = None) -> str:
    """A keyring file's text (used by tests and `intel keygen`)."""
    lines = [f'current = "{current}"', ""]
    for kid, hexsecret in secrets.items():
        lines += [f"[keys.{kid}]", f'secret = "{hexsecret}"']
        if valid_until and kid in valid_until:
            lines.append(f'valid_until = "{valid_until[kid]}"')
        lines.append("")
    return "\n".join(lines)


# --- hashing --------------------------------------------------------------------------
def keyed_digest(key: Key, kind: str, normalised: str) -> str:
    """``keyid:hex`` HMAC-SHA256 of an already normalised value, separated by kind."""
    mac = hmac.new(key.secret, f"distillguard/{kind}\x00{normalised}".encode(), hashlib.sha256)
    return f"{key.id}:{mac.hexdigest()}"


def digest(keyring: Keyring, kind: str, value: str | None) -> str | None:
    """The shareable form of a raw artefact under the current key (None if invalid)."""
    n = normalise(kind, value)
    return None if n is None else keyed_digest(keyring.current_key, kind, n)


def all_digests(keyring: Keyring, kind: str, value: str | None, when: datetime | None = None) -> list[str]:
    """Digests under every valid key: what a pulled indicator may have been made with."""
    n = normalise(kind, value)
    if n is None:
        return []
    return [keyed_digest(k, kind, n) for k in keyring.valid_keys(when)]


def tokenise(keyring: Keyring, kind: str, values: Iterable[str], oprf: "OprfClient | None" = None, *,
             every_key: bool = False, when: datetime | None = None) -> dict[str, list[str]]:
    """{raw value: shareable forms} for many values of one kind at once.

    Low-entropy kinds (``oprf.OPRF_KINDS``: email, payment, ip, subnet) go through the
    OPRF key holder (one batched, blinded request per 10k values) and are never hashed under
    the shared key; without an ``oprf`` client they get no token at all (export reports them
    as held back). With ``every_key``, every still-evaluated OPRF key and every valid HMAC
    key is used (matching indicators made before a rotation); HMAC digests of low-entropy
    kinds are still produced when matching, so indicators shared before OPRF keep matching.
    """
    from distillguard.intel.oprf import OPRF_KINDS, oprf_input

    norm: dict[str, str] = {}
    for v in values:
        n = normalise(kind, v)
        if n is not None:
            norm[v] = n
    out: dict[str, list[str]] = {v: [] for v in norm}
    if kind in OPRF_KINDS:
        if oprf is not None:
            inputs = {v: oprf_input(kind, n) for v, n in norm.items()}
            for kid in (oprf.key_ids if every_key else [oprf.current]):
                got = oprf.tokens(list(inputs.values()), kid)
                for v, data in inputs.items():
                    out[v].append(got[data])
        if every_key:
            for v, n in norm.items():
                out[v].extend(keyed_digest(k, kind, n) for k in keyring.valid_keys(when))
        return out
    keys = keyring.valid_keys(when) if every_key else [keyring.current_key]
    for v, n in norm.items():
        out[v] = [keyed_digest(k, kind, n) for k in keys]
    return out
