"""Write a canonical events table out the way real providers and gateways log it.

Used by the profile tests (a simulated world converted to each format must scan to the
same verdicts) and by bench/bench_ingest_map.py. Each writer produces what the real
system would: chat clients resend the history, so the request of turn k of a
conversation carries turns 1..k-1 (user and assistant messages) before its own prompt.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

ANSWER = "(answer)"


def _rows(events: pa.Table) -> list[dict[str, Any]]:
    rows = events.sort_by([("ts", "ascending"), ("request_id", "ascending")]).to_pylist()
    return rows


def with_history(events: pa.Table) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each event with the OpenAI-style ``messages`` list its request carried."""
    history: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in _rows(events):
        msgs: list[dict[str, Any]] = []
        if r.get("system_prompt"):
            msgs.append({"role": "system", "content": r["system_prompt"]})
        conv = r.get("conversation_id")
        key = (r["account_id"], conv) if conv else None
        past = history.get(key, []) if key else []
        msgs.extend(past)
        msgs.append({"role": "user", "content": r["prompt"]})
        if key:
            history[key] = past + [{"role": "user", "content": r["prompt"]},
                                   {"role": "assistant", "content": r.get("response") or ANSWER}]
        yield r, msgs


def _epoch(ts: datetime) -> float:
    return ts.replace(tzinfo=timezone.utc).timestamp() if ts.tzinfo is None else ts.timestamp()


def write_openai(events: pa.Table, path: Path, whole_seconds: bool = True) -> Path:
    """Chat Completions logs: request body + response, gateway facts in ``metadata``.

    ``created`` is whole epoch seconds, as the API returns it (``whole_seconds=False``
    keeps the microseconds, as some gateways log them).
    """
    with open(path, "w", encoding="utf-8") as fh:
        for r, msgs in with_history(events):
            usage: dict[str, Any] = {"prompt_tokens": r.get("prompt_tokens"), "completion_tokens": r.get("completion_tokens"),
                                     "total_tokens": (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0)}
            if r.get("reasoning_tokens") is not None:
                usage["completion_tokens_details"] = {"reasoning_tokens": r["reasoning_tokens"]}
            meta = {k: v for k, v in (("client_ip", r.get("ip")), ("user_agent", r.get("user_agent")),
                                      ("api_key_id", r.get("api_key_id"))) if v is not None}
            rec = {"id": r["request_id"], "object": "chat.completion", "created": int(_epoch(r["ts"])) if whole_seconds else _epoch(r["ts"]),
                   "model": r.get("model"), "user": r["account_id"], "messages": msgs, "metadata": meta,
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": r.get("response")}}],
                   "usage": usage}
            fh.write(json.dumps(rec) + "\n")
    return path


def write_anthropic(events: pa.Table, path: Path) -> Path:
    """Messages API logs: system apart, content blocks, metadata.user_id, ISO timestamps."""
    with open(path, "w", encoding="utf-8") as fh:
        for r, msgs in with_history(events):
            turns = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
                     for m in msgs if m["role"] != "system"]
            ts = r["ts"].astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
            rec = {"request_id": r["request_id"], "timestamp": ts, "type": "message", "model": r.get("model"),
                   "system": r.get("system_prompt"), "messages": turns,
                   "metadata": {"user_id": r["account_id"]},
                   "content": [{"type": "text", "text": r.get("response") or ""}],
                   "usage": {"input_tokens": r.get("prompt_tokens"), "output_tokens": r.get("completion_tokens"),
                             "thinking_tokens": r.get("reasoning_tokens")},
                   "client_ip": r.get("ip"), "user_agent": r.get("user_agent"), "api_key_id": r.get("api_key_id")}
            fh.write(json.dumps(rec) + "\n")
    return path


LITELLM_COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
                   "completion_tokens", "startTime", "endTime", "completionStartTime", "model", "model_group",
                   "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags", "team_id", "end_user",
                   "requester_ip_address", "messages", "response", "session_id", "status", "proxy_server_request"]


def _litellm_rows(events: pa.Table) -> Iterator[dict[str, Any]]:
    for r, msgs in with_history(events):
        ts = r["ts"].astimezone(timezone.utc).replace(tzinfo=None)
        text_ts = ts.isoformat(sep=" ", timespec="microseconds")  # Postgres `timestamp`: no zone
        resp = {"id": "chatcmpl-" + r["request_id"], "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": r.get("response")}}],
                "usage": {"prompt_tokens": r.get("prompt_tokens"), "completion_tokens": r.get("completion_tokens"),
                          "completion_tokens_details": {"reasoning_tokens": r.get("reasoning_tokens")}}}
        yield {
            "request_id": r["request_id"], "call_type": "acompletion", "api_key": r.get("api_key_id") or "",
            "spend": 0.0012, "total_tokens": (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0),
            "prompt_tokens": r.get("prompt_tokens"), "completion_tokens": r.get("completion_tokens"),
            "startTime": text_ts, "endTime": text_ts, "completionStartTime": text_ts,
            "model": r.get("model") or "", "model_group": r.get("model") or "", "api_base": "https://api.example.com/v1",
            "user": r["account_id"], "metadata": json.dumps({"user_api_key_alias": None, "spend_logs_metadata": None}),
            "cache_hit": "False", "cache_key": "Cache OFF", "request_tags": json.dumps(["prod"]), "team_id": None,
            "end_user": "", "requester_ip_address": r.get("ip"), "messages": json.dumps(msgs),
            "response": json.dumps(resp), "session_id": r.get("conversation_id"), "status": "success",
            "proxy_server_request": json.dumps({"headers": {"user-agent": r.get("user_agent")}}),
        }


def write_litellm_csv(events: pa.Table, path: Path) -> Path:
    """LiteLLM_SpendLogs as `\\copy ... TO ... CSV HEADER` writes it (JSON columns as text)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LITELLM_COLUMNS)
        w.writeheader()
        for row in _litellm_rows(events):
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


def write_litellm_json(events: pa.Table, path: Path) -> Path:
    """LiteLLM_SpendLogs as `SELECT row_to_json(t)` lines (JSON columns as JSON)."""
    with open(path, "w", encoding="utf-8") as fh:
        for row in _litellm_rows(events):
            row = {**row, "startTime": row["startTime"].replace(" ", "T")}
            for k in ("metadata", "request_tags", "messages", "response", "proxy_server_request"):
                row[k] = json.loads(row[k])
            fh.write(json.dumps(row) + "\n")
    return path


def _attr(key: str, v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"key": key, "value": {"boolValue": v}}
    if isinstance(v, int):
        return {"key": key, "value": {"intValue": str(v)}}
    return {"key": key, "value": {"stringValue": str(v)}}


def write_otel(events: pa.Table, path: Path, spans_per_line: int = 50) -> Path:
    """OTLP JSON from the Collector's file exporter: resourceSpans per line, gen_ai.* span attributes."""
    def span(r: dict[str, Any], msgs: list[dict[str, Any]]) -> dict[str, Any]:
        ns = int(round(_epoch(r["ts"]) * 1e6)) * 1000
        parts = [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
                 for m in msgs if m["role"] != "system"]
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": r.get("model"), "gen_ai.response.id": r["request_id"],
                 "gen_ai.usage.input_tokens": r.get("prompt_tokens"), "gen_ai.usage.output_tokens": r.get("completion_tokens"),
                 "gen_ai.usage.reasoning_tokens": r.get("reasoning_tokens"),
                 "gen_ai.conversation.id": r.get("conversation_id"), "user.id": r["account_id"],
                 "client.address": r.get("ip"), "user_agent.original": r.get("user_agent"),
                 "gen_ai.input.messages": json.dumps(parts)}
        if r.get("system_prompt"):
            attrs["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": r["system_prompt"]}])
        return {"traceId": r["request_id"].encode().hex()[:32].ljust(32, "0"), "spanId": f"{abs(hash(r['request_id'])):016x}"[:16],
                "name": f"chat {r.get('model')}", "kind": 3, "startTimeUnixNano": str(ns),
                "endTimeUnixNano": str(ns + 1_000_000),
                "attributes": [_attr(k, v) for k, v in attrs.items() if v is not None]}

    with open(path, "w", encoding="utf-8") as fh:
        batch: list[dict[str, Any]] = []
        for r, msgs in with_history(events):
            batch.append(span(r, msgs))
            if len(batch) >= spans_per_line:
                fh.write(json.dumps(_otlp(batch)) + "\n")
                batch = []
        if batch:
            fh.write(json.dumps(_otlp(batch)) + "\n")
    return path


def _otlp(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "api-gateway")]},
                               "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"},
                                               "spans": spans}]}]}


WRITERS = {"openai": (write_openai, "events.jsonl"), "anthropic": (write_anthropic, "events.jsonl"),
           "litellm": (write_litellm_csv, "spendlogs.csv"), "otel": (write_otel, "spans.json")}
