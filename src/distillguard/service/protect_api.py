"""``POST /v1/protect``: the text to send for one response, following the account's current decision.

Body ``{account_id, request_id, prompt, response, reasoning?}``. The guard's latest action for
the account (``Guard.current_action``) picks the rule from the policy file's ``[protect]``
section (src/distillguard/protect/policy.py): watermark, canary, degrade. The answer is
``{request_id, account_id, action, response, reasoning, degrade, canary, watermark_sites,
applied}``. Without a protect key configured the endpoint answers 503 and says how to set one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distillguard.protect.canary import CanaryRegistry
from distillguard.protect.policy import KEY_ENV, load_secret
from distillguard.protect.protector import Protector


class ProtectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=256)
    request_id: str = Field(min_length=1, max_length=256)
    prompt: str
    response: str
    reasoning: str | None = None


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


class _Holder:
    """The Protector for the policy in force; rebuilt when the key file or registry changes."""

    def __init__(self, guard: Any) -> None:
        self.guard = guard
        self.version = -1
        self.protector: Protector | None = None
        self.error: str | None = None
        self._key_src: tuple[str | None, str | None] = ("?", "?")
        self.registry: CanaryRegistry | None = None

    def get(self) -> Protector | None:
        holder = self.guard.policy
        if holder.version == self.version:
            return self.protector
        self.version = holder.version
        pol = holder.policy.protect
        src = (pol.key_file, pol.registry)
        if self.protector is not None and src == self._key_src:
            self.protector.set_policy(pol)
            return self.protector
        try:
            secret = load_secret(pol.key_file)
        except (OSError, ValueError) as e:
            self.protector, self.error = None, f"output protection is off: {e}"
            return None
        if secret is None:
            self.protector, self.error = None, (f"output protection needs a key: set [protect] key_file in the policy "
                                                f"file or the {KEY_ENV} environment variable (>= 16 bytes)")
            return None
        state = self.guard.cfg.state_path
        path = pol.registry or (":memory:" if state == ":memory:" else str(Path(state).with_suffix(".canaries.db")))
        if self.registry is None or self.registry.path != path:
            if self.registry is not None:
                self.registry.close()
            self.registry = CanaryRegistry(path)
        self.protector, self.error, self._key_src = Protector(secret, pol, self.registry), None, src
        return self.protector


def mount_protect(app: FastAPI, guard: Any) -> None:
    """Add ``POST /v1/protect`` to the guard's app."""
    router = APIRouter()
    holder = _Holder(guard)
    m = guard.metrics

    max_body = guard.cfg.max_body_bytes

    def _err(status: int, doc: dict[str, Any]) -> Response:
        m.requests[("/v1/protect", status)] += 1
        return _json(doc, status)

    @router.post("/v1/protect")
    async def protect(request: Request) -> Response:
        cl = request.headers.get("content-length")
        if cl is not None and (not cl.isdigit() or int(cl) > max_body):
            return _err(413, {"error": f"body larger than {max_body:,} bytes"})
        raw = await request.body()
        if len(raw) > max_body:
            return _err(413, {"error": f"body larger than {max_body:,} bytes"})
        if not raw.strip():
            return _err(400, {"error": "empty body: send {account_id, request_id, prompt, response, reasoning?}"})
        try:
            body = ProtectIn.model_validate_json(raw)
        except ValidationError as e:
            if any(err.get("type") == "json_invalid" for err in e.errors()):
                return _err(400, {"error": "invalid JSON"})
            return _err(422, {"error": "invalid request", "details": [
                {"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in e.errors()]})
        prot = holder.get()
        if prot is None:
            return _err(503, {"error": holder.error})
        try:
            action = await guard.current_action(body.account_id)
        except Exception:  # a stalled store: the guard's fail mode decides, as for /v1/events
            cfg = guard.cfg
            action = "allow" if cfg.fail_mode == "open" else cfg.fail_closed_action
        if prot.registry is not None and prot.policy.rule(action).canary:
            # the registry write is a small SQLite insert; keep it off the event loop
            out = await asyncio.get_running_loop().run_in_executor(
                None, prot.protect, body.account_id, action, body.request_id, body.prompt, body.response, body.reasoning)
        else:
            out = prot.protect(body.account_id, action, body.request_id, body.prompt, body.response, body.reasoning)
        m.requests[("/v1/protect", 200)] += 1
        return _json(out.to_dict())

    app.include_router(router)
