"""Member credentials: HTTP Basic (scrypt password hashes) and API tokens, per-collection rights.

Why both: TAXII 2.1 names HTTP Basic over TLS as the interoperable baseline (every client,
including the official taxii2-client, speaks it), while long random API tokens suit
automation. Tokens are shown once at creation and stored only as SHA-256 hashes (they are
already high-entropy); passwords are stored as salted scrypt hashes. Credentials are
refused over plain HTTP unless ``allow_insecure_http`` is set (tests and local development).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid

from distillguard.hub.storage import Member, Storage

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MEMBER_NS = uuid.UUID("5b0d8f7a-1f0e-4b8e-9a33-2f6c0d9e7a41")


class AuthError(Exception):
    """Authentication failed (401) or was attempted in an unsafe way (also 401, with a reason)."""

    def __init__(self, message: str, status: int = 401) -> None:
        self.status = status
        super().__init__(message)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Salted scrypt hash in a self-describing text form: ``scrypt$n$r$p$salt$hash``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check of a password against ``hash_password`` output."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token (256 bits, URL-safe), prefixed so that leaked tokens are greppable."""
    return "dgh_" + secrets.token_urlsafe(32)


def default_identity(name: str) -> str:
    """A stable STIX identity id for a member that did not bring its own."""
    return f"identity--{uuid.uuid5(_MEMBER_NS, name)}"


def parse_rights(read: list[str], write: list[str]) -> dict[str, str]:
    """Rights map from collection ids (or '*') that a member may read and write."""
    rights: dict[str, str] = {}
    for cid in read:
        rights[cid] = "".join(sorted(set(rights.get(cid, "") + "r")))
    for cid in write:
        rights[cid] = "".join(sorted(set(rights.get(cid, "") + "w")))
    return rights


def authenticate(storage: Storage, authorization: str | None, *, secure: bool, allow_insecure: bool) -> Member:
    """Resolve an ``Authorization`` header to a member, or raise AuthError.

    Accepts ``Basic`` (member name + password), ``Bearer <token>`` and ``Token <token>``
    (the spelling taxii2-client's TokenAuth uses).
    """
    if not authorization:
        raise AuthError("authentication required (HTTP Basic or an API token)")
    if not secure and not allow_insecure:
        raise AuthError("credentials over plain HTTP are refused; use HTTPS "
                        "(or set hub.allow_insecure_http = true for local development)")
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("malformed Basic credentials") from None
        member = storage.get_member(name=name)
        # verify even when the member is unknown so timing does not reveal member names
        ok = verify_password(password, member.password_hash if member else _DUMMY_HASH)
        if member is None or not ok:
            raise AuthError("invalid member name or password")
        return member
    if scheme in ("bearer", "token"):
        member = storage.get_member(token_hash=hash_token(value)) if value else None
        if member is None:
            raise AuthError("invalid API token")
        return member
    raise AuthError(f"unsupported authorization scheme {scheme!r}")


_DUMMY_HASH = hash_password("not-a-real-password", salt=b"\0" * 16)
