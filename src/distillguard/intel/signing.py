"""Per-member Ed25519 signatures on shared objects (optional extra ``signing``).

The hub pins ``created_by_ref`` to the authenticated member, but a consortium that shares
through a standard TAXII server (medallion, a vendor's) has nobody checking who posted
what: any member can post a "revocation" of a rival's indicator carrying the rival's
``created_by_ref``. With signing, every object a member authors carries
``x_distillguard_signature = "ed25519:<base64>"`` over its canonical JSON (sorted keys, no
spaces, UTF-8, the signature property left out). A receiver that pins the member's public
key (``intel.trusted_keys``: identity id -> base64 public key) refuses any object claiming
that identity without a valid signature, so a server in the middle cannot forge a member's
word either. Keys: ``intel signing-key --out FILE`` (hex seed, mode 600; the public key is
printed for the other members to pin).
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from distillguard.errors import ConfigError, InputError

PROP = "x_distillguard_signature"
PREFIX = "ed25519:"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ConfigError("signing needs the 'signing' extra: pip install 'distillguard[signing]'") from e
    return ed25519


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in obj.items() if k != PROP}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def hex_key_file(path: str | Path, *, create: bool, what: str, hint: str = "") -> bytes:
    """The secret in a key file of hex digits, made (32 random bytes, mode 0600) when ``create``
    and absent. Signing keys and the audit log's HEAD key are kept this way."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise InputError(f"{what} file not found{hint}", source=str(p))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(secrets.token_hex(32) + "\n")
        p.chmod(0o600)
    try:
        return bytes.fromhex(p.read_text().strip())
    except ValueError:
        raise InputError(f"{what} file must hold hex digits", source=str(p)) from None


class SigningKey:
    """A member's Ed25519 private key."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise InputError("an Ed25519 signing key is 32 bytes (64 hex digits)")
        self._key = _crypto().Ed25519PrivateKey.from_private_bytes(seed)

    @classmethod
    def load(cls, path: str | Path, *, create: bool = False) -> "SigningKey":
        return cls(hex_key_file(path, create=create, what="signing key",
                                hint=" (create one with `intel signing-key`)"))

    def public_b64(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, PROP: PREFIX + base64.b64encode(self._key.sign(canonical(obj))).decode()}


def verify(obj: dict[str, Any], public_b64: str) -> bool:
    """Whether ``obj`` carries a valid signature by the holder of ``public_b64``."""
    sig = obj.get(PROP)
    if not isinstance(sig, str) or not sig.startswith(PREFIX):
        return False
    try:
        pub = _crypto().Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        pub.verify(base64.b64decode(sig[len(PREFIX):], validate=True), canonical(obj))
        return True
    except Exception:  # noqa: BLE001 - InvalidSignature, bad base64, bad key: all "not signed by them"
        return False


def sign_bundle(bundle: dict[str, Any], key: SigningKey, identity_id: str) -> dict[str, Any]:
    """Sign every object this member authors (``created_by_ref`` = it, and its own identity)."""
    objs = [key.sign(o) if o.get("created_by_ref") == identity_id or o.get("id") == identity_id else o
            for o in bundle["objects"]]
    return {**bundle, "objects": objs}


def claimed_author(obj: dict[str, Any]) -> str | None:
    """Whose word an object claims to be: its author, or the identity it describes."""
    if obj.get("type") == "identity":
        return str(obj.get("id"))
    author = obj.get("created_by_ref")
    return str(author) if author else None
