"""Oblivious PRF tokens for low-entropy identifiers (RFC 9497, ristretto255-SHA512, VOPRF mode).

Why: an IPv4 /24 subnet, an IP, an e-mail or a card fingerprint has so little entropy that an
HMAC under a key every member holds is no protection against another member: enumerating
the whole IPv4 /24 space is 16.7M HMACs, seconds of work. So these kinds are not hashed
under a shared key at all. The *key holder* (the hub, or a separate key service) alone
holds an RFC 9497 OPRF key; a member sends its values *blinded* (the key holder learns
nothing about them), receives blinded evaluations with a DLEQ proof that they were made
under the published public key, and unblinds them to PRF values. Equal inputs give equal
tokens for every member, so matching still works; but nobody without the key holder's
help can compute a token, so a guess costs one rate-limited, audited request.

Curve arithmetic is the `voprf` package (Rust, wrapping the `voprf` crate built on
curve25519-dalek); nothing here touches group elements except through its API.

Token text: ``<key_id>:<64 hex>`` (the first 32 bytes of the 64-byte RFC 9497 output), the
same shape as the older HMAC digests, so patterns, the policy guard and the matcher keep
one format; the key id says which OPRF key made it (key ids start with ``oprf-``).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Protocol, Sequence

from voprf import ristretto

from distillguard.errors import InputError

# kinds whose raw values are guessable by enumeration: always OPRF, never a shared-key HMAC
OPRF_KINDS = frozenset({"email", "payment", "ip", "subnet"})
KEY_PREFIX = "oprf-"
MAX_BATCH = 10_000           # evaluations per request (RFC 9497 batch proofs allow 2^16 - 1)
KEY_INFO = b"distillguard/oprf/v1/"


def is_oprf_key_id(key_id: str) -> bool:
    return key_id.startswith(KEY_PREFIX)


def oprf_input(kind: str, normalised: str) -> bytes:
    """The PRF input of a normalised value: domain-separated by kind."""
    return f"distillguard/{kind}\x00{normalised}".encode()


def token_text(key_id: str, output: bytes) -> str:
    return f"{key_id}:{output[:32].hex()}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as e:
        raise InputError("not base64") from e


# --- the key holder --------------------------------------------------------------------------
@dataclass(frozen=True)
class OprfKey:
    """One OPRF key of the key holder. ``seed`` never leaves the key holder."""

    id: str
    seed: bytes
    created: str
    retired: str | None = None  # after this, evaluations are refused (matching window closed)

    def evaluator(self) -> ristretto.Evaluator:
        return ristretto.Evaluator.from_seed(self.seed, KEY_INFO + self.id.encode())

    def public_key(self) -> bytes:
        return self.evaluator().public_key.serialize()

    def active(self, now: datetime | None = None) -> bool:
        if self.retired is None:
            return True
        when = now or datetime.now(timezone.utc)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") < self.retired


def new_key(key_id: str | None = None, now: datetime | None = None) -> OprfKey:
    when = now or datetime.now(timezone.utc)
    kid = key_id or f"{KEY_PREFIX}{when:%Y%m%d}-{secrets.token_hex(3)}"
    if not is_oprf_key_id(kid):
        raise InputError(f"OPRF key ids start with {KEY_PREFIX!r}")
    return OprfKey(kid, secrets.token_bytes(32), when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


class KeyHolder:
    """Evaluates blinded elements under its keys (the hub, or a key service, or a test)."""

    def __init__(self, keys: Sequence[OprfKey]) -> None:
        if not keys:
            raise InputError("the OPRF key holder has no key")
        self.keys = {k.id: k for k in keys}
        self._evaluators = {k.id: k.evaluator() for k in keys}
        # the newest active key is current
        active = [k for k in keys if k.active()]
        self.current = max(active or list(keys), key=lambda k: k.created).id

    def public_keys(self) -> dict[str, bytes]:
        return {kid: ev.public_key.serialize() for kid, ev in self._evaluators.items()}

    def evaluate(self, key_id: str, blinded: Sequence[bytes]) -> bytes:
        """A serialised RFC 9497 batch output (evaluations + one DLEQ proof)."""
        key = self.keys.get(key_id)
        if key is None:
            raise InputError(f"unknown OPRF key {key_id!r}")
        if not key.active():
            raise InputError(f"OPRF key {key_id!r} is retired")
        if not 1 <= len(blinded) <= MAX_BATCH:
            raise InputError(f"between 1 and {MAX_BATCH} blinded elements per request")
        try:
            elems = [ristretto.BlindedInput.deserialize(b) for b in blinded]
        except Exception as e:  # noqa: BLE001 - the library raises ValueError/TypeError variants
            raise InputError("a blinded element is not a ristretto255 group element") from e
        return self._evaluators[key_id].evaluate_batch(elems).serialize()


# --- the member side --------------------------------------------------------------------------
class Transport(Protocol):
    """How a member reaches the key holder (over HTTPS to the hub, or in-process in tests)."""

    def keys(self) -> tuple[str, dict[str, bytes]]:
        """(current key id, {key id: public key}) for keys still evaluated."""

    def evaluate(self, key_id: str, blinded: Sequence[bytes]) -> bytes: ...


class LocalTransport:
    """The key holder in the same process: tests and benchmarks (no network, same protocol)."""

    def __init__(self, holder: KeyHolder) -> None:
        self.holder = holder
        self.evaluations = 0

    def keys(self) -> tuple[str, dict[str, bytes]]:
        return self.holder.current, {k: v for k, v in self.holder.public_keys().items()
                                      if self.holder.keys[k].active()}

    def evaluate(self, key_id: str, blinded: Sequence[bytes]) -> bytes:
        self.evaluations += len(blinded)
        return self.holder.evaluate(key_id, blinded)


class OprfClient:
    """Turns a member's normalised values into tokens through a key holder.

    The public keys are fetched once (or pinned: ``pinned`` {key id: public key}); every
    batch's proof is verified against them, so a key holder cannot answer one member under a
    different key than the others (which would silently break matching or tag that member).
    Tokens are cached per key for the life of the client, so one value costs one evaluation.
    """

    def __init__(self, transport: Transport, pinned: dict[str, bytes] | None = None,
                 cache_path: str | None = None) -> None:
        """``cache_path``: a local SQLite file remembering tokens across runs (per key id,
        indexed by a SHA-256 of the input), so a daily match asks the key holder only about
        values it has not seen before. It holds your own values' tokens: keep it local."""
        self.transport = transport
        self._db = None
        if cache_path:
            import sqlite3
            from pathlib import Path

            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(cache_path, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS tokens (key_id TEXT, input TEXT, token TEXT, "
                             "PRIMARY KEY (key_id, input))")
        current, served = transport.keys()
        if pinned:
            for kid, pk in served.items():
                if kid in pinned and pinned[kid] != pk:
                    raise InputError(f"OPRF key {kid}: the key holder's public key differs from the pinned one")
        self.current = current
        self.public = {kid: ristretto.PublicKey.deserialize(pk) for kid, pk in served.items()}
        self._cache: dict[tuple[str, bytes], str] = {}

    @property
    def key_ids(self) -> list[str]:
        """Every key still evaluated, current first (for matching after a rotation)."""
        return [self.current, *sorted(k for k in self.public if k != self.current)]

    def tokens(self, inputs: Iterable[bytes], key_id: str | None = None) -> dict[bytes, str]:
        """{input: token} under ``key_id`` (default the current key)."""
        kid = key_id or self.current
        if kid not in self.public:
            raise InputError(f"the key holder does not evaluate OPRF key {kid!r}")
        inputs = list(inputs)
        if self._db is not None:
            self._load_cached(kid, inputs)
        todo = sorted({i for i in inputs if (kid, i) not in self._cache})
        for start in range(0, len(todo), MAX_BATCH):
            chunk = todo[start:start + MAX_BATCH]
            clients, blinded = [], []
            for item in chunk:
                c, b = ristretto.Client.blind(item)
                clients.append(c)
                blinded.append(b.serialize())
            raw = self.transport.evaluate(kid, blinded)
            try:
                outputs = ristretto.Client.finalize_batch(
                    clients, ristretto.VerifiableBatchOutput.deserialize(raw), self.public[kid])
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 - voprf 0.2.0's finalize_batch panics (pyo3 PanicException,
                # a BaseException) instead of raising ValueError when the proof fails
                raise InputError(f"the key holder's OPRF proof does not verify under key {kid}: {e}") from None
            for item, out in zip(chunk, outputs):
                self._cache[(kid, item)] = token_text(kid, bytes(out))
            if self._db is not None:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)",
                                         [(kid, _h(i), self._cache[(kid, i)]) for i in chunk])
        return {i: self._cache[(kid, i)] for i in inputs}

    def _load_cached(self, kid: str, inputs: list[bytes]) -> None:
        assert self._db is not None
        missing = [i for i in set(inputs) if (kid, i) not in self._cache]
        by_hash = {_h(i): i for i in missing}
        keys = list(by_hash)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(f"SELECT input, token FROM tokens WHERE key_id = ? AND input IN "
                                    f"({', '.join('?' for _ in chunk)})", [kid, *chunk]).fetchall()
            for h, tok in rows:
                self._cache[(kid, by_hash[h])] = tok

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def token(self, kind: str, normalised: str, key_id: str | None = None) -> str:
        data = oprf_input(kind, normalised)
        return self.tokens([data], key_id)[data]


class HubTransport:
    """The hub's ``/hub/oprf/*`` endpoints over HTTPS (member credentials, like TAXII)."""

    def __init__(self, base_url: str, *, user: str | None = None, password: str | None = None,
                 token: str | None = None, verify: bool | str = True, timeout: float = 60.0,
                 record: list[bytes] | None = None) -> None:
        """``record``: if given, every request body sent is appended to it (leak checks)."""
        self.base = hub_base(base_url)
        self.record = record
        self._auth = (user, password or "") if user and not token else None
        self._headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        self._verify, self._timeout = verify, timeout

    def _json(self, method: str, path: str, **kw: object) -> dict[str, object]:
        import httpx

        try:  # one short-lived connection per batch: nothing left open between calls
            with httpx.Client(base_url=self.base, auth=self._auth, headers=self._headers, verify=self._verify,
                              timeout=self._timeout) as http:
                r = http.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as e:
            raise InputError(f"OPRF key holder unreachable: {e}", source=self.base) from e
        if r.status_code != 200:
            try:
                why = r.json().get("description", r.text[:200])
            except ValueError:
                why = r.text[:200]
            raise InputError(f"OPRF key holder answered {r.status_code}: {why}", source=self.base)
        return r.json()

    def keys(self) -> tuple[str, dict[str, bytes]]:
        doc = self._json("GET", "/hub/oprf/keys")
        keys = {str(k["id"]): unb64(str(k["public_key"])) for k in doc["keys"]}  # type: ignore[union-attr]
        return str(doc["current"]), keys

    def evaluate(self, key_id: str, blinded: Sequence[bytes]) -> bytes:
        import json

        body = json.dumps({"key_id": key_id, "blinded": [b64(b) for b in blinded]}).encode()
        if self.record is not None:
            self.record.append(body)
        doc = self._json("POST", "/hub/oprf/evaluate", content=body, headers={"Content-Type": "application/json"})
        return unb64(str(doc["evaluated"]))


def _h(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def hub_base(url: str) -> str:
    """The hub's base URL from any of its URLs (a collection URL, the API root, discovery)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"
