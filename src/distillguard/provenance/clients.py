"""Suspect models: an OpenAI-compatible chat endpoint, or a file of its outputs.

File format (JSONL, one object per line): ``{"prompt": ..., "output": ...}`` (``response``
or ``completion`` are accepted for ``output``). Probe files: JSONL with ``prompt`` (other
fields ignored) or plain text, one prompt per line.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from distillguard.errors import ConfigError


def _open(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_probes(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.exists():
        raise ConfigError("probe file not found", source=str(p))
    out: list[str] = []
    with _open(p) as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"line {i}: invalid JSON: {e}", source=str(p)) from e
                if not isinstance(rec.get("prompt"), str):
                    raise ConfigError(f"line {i}: no 'prompt' string", source=str(p))
                out.append(rec["prompt"])
            else:
                out.append(line)
    if not out:
        raise ConfigError("no probe prompts", source=str(p))
    return out


def read_outputs(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, output) pairs of a suspect, from JSONL."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("outputs file not found", source=str(p))
    out: list[tuple[str, str]] = []
    with _open(p) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"line {i}: invalid JSON: {e}", source=str(p)) from e
            text = next((rec[k] for k in ("output", "response", "completion") if isinstance(rec.get(k), str)), None)
            if not isinstance(rec.get("prompt"), str) or text is None:
                raise ConfigError(f"line {i}: needs 'prompt' and 'output' strings", source=str(p))
            out.append((rec["prompt"], text))
    if not out:
        raise ConfigError("no outputs", source=str(p))
    return out


class EndpointSuspect:
    """``POST {url}/v1/chat/completions`` (``url`` may already end in /v1 or the full path)."""

    def __init__(self, url: str, model: str = "suspect", api_key: str | None = None, temperature: float = 0.7,
                 max_tokens: int = 512, timeout_s: float = 60.0, concurrency: int = 4) -> None:
        u = url.rstrip("/")
        if not u.endswith("/chat/completions"):
            u = u + ("/chat/completions" if u.endswith("/v1") else "/v1/chat/completions")
        self.url, self.model, self.temperature, self.max_tokens = u, model, temperature, max_tokens
        self.headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s, self.concurrency = timeout_s, max(1, concurrency)

    def ask(self, client: httpx.Client, prompt: str, seed: int) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": seed}
        r = client.post(self.url, json=body, headers=self.headers)
        if r.status_code != 200:
            raise ConfigError(f"suspect endpoint answered {r.status_code}: {r.text[:300]}", source=self.url)
        try:
            return str(r.json()["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ConfigError(f"not an OpenAI chat completion: {r.text[:300]}", source=self.url) from e

    def score(self, client: httpx.Client, prompt: str, text: str) -> float:
        """log P(text | prompt) under the suspect, via legacy ``/v1/completions`` with echo and
        logprobs (``max_tokens = 0``): the sum of the answer's token logprobs."""
        from distillguard.provenance.serve import SCORE_SEPARATOR

        head = prompt + SCORE_SEPARATOR
        url = self.url.replace("/chat/completions", "/completions")
        body = {"model": self.model, "prompt": head + text, "echo": True, "logprobs": 0, "max_tokens": 0}
        r = client.post(url, json=body, headers=self.headers)
        if r.status_code != 200:
            raise ConfigError(f"the suspect does not score text (completions with echo+logprobs answered "
                              f"{r.status_code}); run without --likelihood", source=url)
        try:
            lp = r.json()["choices"][0]["logprobs"]
            return float(sum(v for v, off in zip(lp["token_logprobs"], lp["text_offset"])
                             if v is not None and off >= len(head)))
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ConfigError(f"no token logprobs in the suspect's answer: {r.text[:300]}", source=url) from e

    def score_many(self, items: Sequence[tuple[str, str]]) -> list[float]:
        with httpx.Client(timeout=self.timeout_s) as client:
            try:
                with ThreadPoolExecutor(self.concurrency) as ex:
                    return list(ex.map(lambda a: self.score(client, a[0], a[1]), items))
            except httpx.HTTPError as e:
                raise ConfigError(f"cannot reach the suspect endpoint: {e}", source=self.url) from e

    def collect(self, prompts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[tuple[str, str]]:
        with httpx.Client(timeout=self.timeout_s) as client:
            try:
                with ThreadPoolExecutor(self.concurrency) as ex:
                    outs = list(ex.map(lambda a: self.ask(client, a[1], a[0]), enumerate(prompts)))
            except httpx.HTTPError as e:
                raise ConfigError(f"cannot reach the suspect endpoint: {e}", source=self.url) from e
        if progress:
            progress(len(outs))
        return list(zip(prompts, outs))
