"""A minimal OpenAI-compatible chat-completions server around any ``generate(prompt) -> text``.

For tests, benchmarks and the demo: it lets ``distillguard provenance test --endpoint`` talk
to a toy student exactly as it would to a real suspect (``POST /v1/chat/completions``,
``GET /v1/models``). The last user message is the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict


class _Msg(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class _ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "student"
    messages: list[_Msg]
    seed: int | None = None


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content or ""


SCORE_SEPARATOR = "\n\n### Answer:\n"


class _CompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "student"
    prompt: str
    echo: bool = False
    logprobs: int | None = None
    max_tokens: int = 16


def chat_app(generate: Callable[[str, int], str], model: str = "toy-student",
             score: Callable[[str, str], float] | None = None) -> FastAPI:
    """``score(prompt, text)``, when given, also serves legacy ``/v1/completions`` scoring as
    OpenAI-compatible servers do it (``echo=true, logprobs=0, max_tokens=0``): the prompt is
    ``probe + SCORE_SEPARATOR + answer``, and the reply's ``logprobs`` has two "tokens", the
    probe part (logprob null) and the answer (its total log-probability), with text offsets."""
    app = FastAPI(title="toy OpenAI-compatible chat server")
    n = {"i": 0}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "distillguard-test"}]}

    @app.post("/v1/chat/completions")
    def chat(body: _ChatIn) -> dict[str, Any]:
        users = [m for m in body.messages if m.role == "user"]
        if not users:
            raise HTTPException(400, "no user message")
        n["i"] += 1
        text = generate(_text(users[-1].content), body.seed or 0)
        return {"id": f"chatcmpl-{n['i']}", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": len(text.split()), "total_tokens": len(text.split())}}

    if score is not None:
        @app.post("/v1/completions")
        def completions(body: _CompletionIn) -> dict[str, Any]:
            if not (body.echo and body.logprobs is not None and body.max_tokens == 0):
                raise HTTPException(400, "this toy server only scores text: echo=true, logprobs>=0, max_tokens=0")
            probe, sep, text = body.prompt.rpartition(SCORE_SEPARATOR)
            if not sep:
                raise HTTPException(400, f"prompt must be probe + {SCORE_SEPARATOR!r} + answer")
            head = probe + sep
            return {"id": "cmpl-score", "object": "text_completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "text": body.prompt, "finish_reason": "length",
                                 "logprobs": {"tokens": [head, text], "token_logprobs": [None, score(probe, text)],
                                              "top_logprobs": None, "text_offset": [0, len(head)]}}]}

    return app
