"""Member-to-member private set intersection (OpenMined PSI) for the most sensitive sets.

Even keyed hashes reveal *which* hashed emails a member has flagged to everyone holding the
consortium key. For emails, two members can instead run PSI: the querier learns which of
its own items the responder also holds; the responder learns only how many items were
asked about; neither learns the other's non-matching items. Three messages, as files:

1. querier: :func:`make_request` (keeps a private state file);
2. responder: :func:`respond` (its set: emails of *confirmed campaign* accounts only, so a
   querier cannot use PSI to learn the responder's customer list);
3. querier: :func:`intersect` -> indices of its items that matched.

Items are normalised first (see hashing.normalise) so that plus-tags and gmail dots do
not hide a match. Requires the optional extra ``psi`` (openmined-psi).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from distillguard.errors import ConfigError, InputError
from distillguard.intel.hashing import normalise

FPR = 1e-9
MAX_QUERY_ITEMS = 100_000


def _psi():  # type: ignore[no-untyped-def]
    try:
        import private_set_intersection.python as psi
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ConfigError("PSI needs the optional extra: pip install 'distillguard[psi]'") from e
    return psi


def _items(kind: str, values: list[str]) -> list[str]:
    return [n for n in (normalise(kind, v) for v in values) if n is not None]


@dataclass(frozen=True)
class QueryState:
    """The querier's secret between request and result: never send this file."""

    kind: str
    key: bytes
    items: list[str]

    def to_bytes(self) -> bytes:
        return json.dumps({"kind": self.kind, "key": self.key.hex(), "items": self.items}).encode()

    @classmethod
    def from_bytes(cls, b: bytes) -> "QueryState":
        d = json.loads(b)
        return cls(d["kind"], bytes.fromhex(d["key"]), list(d["items"]))


def make_request(kind: str, values: list[str]) -> tuple[QueryState, bytes]:
    """Step 1 (querier): blinded request for its normalised values."""
    psi = _psi()
    items = sorted(set(_items(kind, values)))
    if not items:
        raise InputError(f"no valid {kind} values to query")
    if len(items) > MAX_QUERY_ITEMS:
        raise InputError(f"{len(items)} items exceed the PSI query limit {MAX_QUERY_ITEMS}")
    client = psi.client.CreateWithNewKey(True)
    req = client.CreateRequest(items).SerializeToString()
    return QueryState(kind, bytes(client.GetPrivateKeyBytes()), items), req


def respond(kind: str, values: list[str], request: bytes, max_query_items: int = MAX_QUERY_ITEMS) -> bytes:
    """Step 2 (responder): answer a request against its own (confirmed-campaign) values."""
    psi = _psi()
    req = psi.Request()
    try:
        req.ParseFromString(request)
    except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise InputError(f"not a PSI request: {e}") from e
    n = len(req.encrypted_elements)
    if n > max_query_items:
        raise InputError(f"request asks about {n} items, more than the {max_query_items} allowed")
    server = psi.server.CreateWithNewKey(True)
    own = sorted(set(_items(kind, values)))
    setup = server.CreateSetupMessage(FPR, max(1, n), own, psi.DataStructure.RAW).SerializeToString()
    resp = server.ProcessRequest(req).SerializeToString()
    return struct.pack(">I", len(setup)) + setup + resp


def intersect(state: QueryState, response: bytes) -> list[str]:
    """Step 3 (querier): the normalised values both sides hold."""
    psi = _psi()
    if len(response) < 4:
        raise InputError("not a PSI response")
    (n,) = struct.unpack(">I", response[:4])
    setup, resp = psi.ServerSetup(), psi.Response()
    try:
        setup.ParseFromString(response[4:4 + n])
        resp.ParseFromString(response[4 + n:])
    except Exception as e:  # noqa: BLE001
        raise InputError(f"not a PSI response: {e}") from e
    client = psi.client.CreateFromKey(state.key, True)
    idx = client.GetIntersection(setup, resp)
    return sorted(state.items[i] for i in idx)
