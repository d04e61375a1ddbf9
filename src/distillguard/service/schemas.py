"""Request and response shapes of the HTTP API, used only by the service.

The pydantic models document the API (OpenAPI at /docs) and validate the rare endpoints
(feedback). ``POST /v1/events`` sits in a gateway's request path, so it is parsed with
orjson and checked by :func:`parse_events` — the same rules as :class:`EventIn`, about 10×
cheaper than building a pydantic model per event.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from distillguard.ingest import rules

Action = Literal["allow", "throttle", "challenge", "block"]

_STR_FIELDS = ("api_key_id", "ip", "user_agent", "model", "conversation_id", "system_prompt", "response", "tier")
_INT_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens")


class EventIn(BaseModel):
    """One API request, in the traffic contract's fields (docs/schema.md); extra fields are ignored."""

    model_config = ConfigDict(extra="allow")
    request_id: str = Field(min_length=1)
    ts: datetime | float | None = Field(None, description="RFC 3339 or epoch seconds; absent = now")
    account_id: str = Field(min_length=1)
    prompt: str
    api_key_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    model: str | None = None
    conversation_id: str | None = None
    system_prompt: str | None = None
    response: str | None = None
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    reasoning_tokens: int | None = Field(None, ge=0)
    tier: str | None = Field(None, description="plan tier, if the gateway knows it")


class EventBatch(BaseModel):
    events: list[EventIn]


class DecisionOut(BaseModel):
    request_id: str
    account_id: str
    action: Action
    score: float
    reasons: list[str]
    campaign_id: str | None = None


class DecisionsOut(BaseModel):
    decisions: list[DecisionOut]


class FeedbackIn(BaseModel):
    """An analyst's verdict on an account; it overrides decisions and is kept for training."""

    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=512)
    verdict: Literal["false_positive", "confirmed", "reopen"]  # reopen: lift the analyst override
    analyst: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=4000)


class RequestError(Exception):
    """A client mistake: becomes an HTTP 4xx with a clear message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_ts(v: Any, where: str) -> float:
    """Epoch seconds by the batch rule (distillguard.ingest.rules); absent means now."""
    if v is None:
        return time.time()
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise RequestError(422, f"{where}.ts: expected RFC 3339 text or epoch seconds")
    try:
        return rules.parse_timestamp(v)
    except rules.RuleError as e:
        raise RequestError(422, f"{where}.ts: {e}") from None


def check_event(ev: Any, where: str, max_prompt_chars: int) -> tuple[dict[str, Any], float]:
    """Validate one event dict the way :class:`EventIn` would; returns it with its epoch time."""
    if not isinstance(ev, dict):
        raise RequestError(422, f"{where}: an event must be a JSON object")
    for k in ("request_id", "account_id"):
        v = ev.get(k)
        if not isinstance(v, str) or not v or len(v) > 512:
            raise RequestError(422, f"{where}.{k}: required non-empty string (≤ 512 chars)")
    p = ev.get("prompt")
    if not isinstance(p, str):
        raise RequestError(422, f"{where}.prompt: required string")
    if len(p) > max_prompt_chars:
        raise RequestError(413, f"{where}.prompt: {len(p):,} chars exceeds the limit of {max_prompt_chars:,}")
    for k in _STR_FIELDS:
        v = ev.get(k)
        if v is not None and not isinstance(v, str):
            raise RequestError(422, f"{where}.{k}: expected string or null")
    for k in _INT_FIELDS:
        v = ev.get(k)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int):
                raise RequestError(422, f"{where}.{k}: expected a non-negative integer or null")
            try:
                rules.parse_tokens(v, k)  # the batch rule: negative or above 2^53 is refused
            except rules.RuleError as e:
                raise RequestError(422, f"{where}.{k}: {e}") from None
    return ev, parse_ts(ev.get("ts"), where)


def parse_events(body: bytes, max_batch: int, max_prompt_chars: int) -> tuple[list[tuple[dict[str, Any], float]], bool]:
    """Body → validated events. Accepts one event, a JSON list, or ``{"events": [...]}``.

    Returns (events, batch) where batch says whether the caller sent a batch (the
    response mirrors it). Raises :class:`RequestError` with the offending path.
    """
    if not body:
        raise RequestError(400, "empty body: send one event or {\"events\": [...]}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(400, f"invalid JSON: {e}") from None
    if isinstance(doc, dict) and "events" in doc and "request_id" not in doc:
        items, batch = doc["events"], True
        if not isinstance(items, list):
            raise RequestError(422, "events: expected a list")
    elif isinstance(doc, list):
        items, batch = doc, True
    else:
        items, batch = [doc], False
    if not items:
        raise RequestError(422, "events: empty batch")
    if len(items) > max_batch:
        raise RequestError(413, f"batch of {len(items):,} events exceeds the limit of {max_batch:,}")
    return [check_event(ev, f"events[{i}]" if batch else "event", max_prompt_chars) for i, ev in enumerate(items)], batch


ACCOUNT_FIELDS = {"account_id": str, "email": str, "payment_fingerprint": str, "country": str, "signup_ip": str,
                  "tier": str, "verified": bool}


def parse_accounts(body: bytes, max_batch: int) -> list[dict[str, Any]]:
    """Body → accounts-feed records (the accounts table's contract fields). Accepts one account,
    a JSON list, or ``{"accounts": [...]}``; ``created_at`` as RFC 3339 text or epoch seconds."""
    from datetime import datetime, timezone

    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as e:
        raise RequestError(400, f"body is not valid JSON: {e}") from None
    if isinstance(doc, dict) and "accounts" in doc:
        doc = doc["accounts"]
    items = doc if isinstance(doc, list) else [doc]
    if not items or len(items) > max_batch:
        raise RequestError(422 if items else 400, f"send 1 to {max_batch} accounts per request")
    out = []
    for i, a in enumerate(items):
        where = f"accounts[{i}]"
        if not isinstance(a, dict):
            raise RequestError(422, f"{where}: expected an object")
        unknown = set(a) - set(ACCOUNT_FIELDS) - {"created_at"}
        if unknown:
            raise RequestError(422, f"{where}: unknown field(s) {sorted(unknown)}; the accounts contract has "
                                    f"{sorted([*ACCOUNT_FIELDS, 'created_at'])}")
        if not isinstance(a.get("account_id"), str) or not a["account_id"]:
            raise RequestError(422, f"{where}.account_id: required, a non-empty string")
        rec: dict[str, Any] = {}
        for k, typ in ACCOUNT_FIELDS.items():
            v = a.get(k)
            if v is not None and not isinstance(v, typ):
                raise RequestError(422, f"{where}.{k}: expected {typ.__name__}")
            rec[k] = v
        rec["created_at"] = (datetime.fromtimestamp(parse_ts(a["created_at"], where), tz=timezone.utc)
                             if a.get("created_at") is not None else None)
        out.append(rec)
    return out
