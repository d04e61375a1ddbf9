"""Declarative mappings: a provider's own log format → the traffic contract.

A mapping is a small TOML file (docs/mappings.md), used as ``--map NAME|FILE`` wherever
logs are read. NAME is a packaged profile (``ingest/profiles/NAME.toml``: openai,
anthropic, litellm, otel); FILE is your own. It says, for each contract column, where
the value is in a source record:

* a path: ``"user"``, ``"usage.prompt_tokens"``, ``"choices[0].message.content"``,
  ``"metadata.headers.user-agent"``; a dotted key (``"gen_ai.request.model"``) is found as
  one key when it exists as one; a string field that holds JSON text (a CSV export of
  a JSON column) is parsed on the way;
* a list of paths: the first that is present and non-empty wins;
* a table ``{from = PATH|[PATHS], as = CONVERSION}`` or ``{const = VALUE}``.

Conversions: ``epoch_s``, ``epoch_ms``, ``epoch_us``, ``epoch_ns``, ``iso`` and ``auto``
(the default, :mod:`distillguard.ingest.rules`) for ``ts``; ``text`` (message content,
a list of content blocks or parts → their text joined by newlines) and ``json`` (any
value as JSON text) for strings.

The ``[messages]`` rule turns a chat ``messages`` list into three columns, unless the
mapping fills them itself:

* ``system_prompt`` — the text of every ``system``/``developer`` message (and of the
  separate ``system`` field, when ``[messages] system`` names one), joined by a blank line;
* ``prompt`` — the text of the **last** ``user`` message;
* ``conversation_id`` — ``m-`` + a hash of (account, system prompt, **first** user
  message): chat clients resend the history, so every turn of one chat starts the same.
  A request that carries no earlier turns opens the chat only if it is the latest such
  request (same account, system prompt and message) at or before a request that
  continues it; any other request without earlier turns is single-turn and gets no
  conversation id (ingest settles this once every file is read).

``[constants]`` adds fixed columns (e.g. ``provider = "acme"``). Source fields that no
path reads are kept as extra columns (nested values as JSON text) unless listed in
``drop`` or ``keep_unmapped = false``. ``extends = "openai"`` starts from a profile and
overrides what you set.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from distillguard.errors import ConfigError
from distillguard.ingest import rules
from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, TS, Column

PROFILE_DIR = "profiles"
TS_CONVERSIONS = {"auto": "auto", "epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us", "epoch_ns": "ns", "iso": "iso"}
STR_CONVERSIONS = ("text", "json", "str")
_TOP_KEYS = ("mapping", "columns", "messages", "constants")
_MAPPING_KEYS = ("description", "kind", "zone", "records", "otlp", "extends", "keep_unmapped", "drop", "format")
_MESSAGES_KEYS = ("from", "system")
_SPEC_KEYS = ("from", "as", "const")
_SYSTEM_ROLES = ("system", "developer")


def profiles() -> list[str]:
    """Names of the packaged profiles."""
    base = resources.files("distillguard.ingest").joinpath(PROFILE_DIR)
    return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".toml"))


def _unknown(key: str, valid: tuple[str, ...] | list[str], where: str, source: str) -> ConfigError:
    near = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(valid)}"
    return ConfigError(f"unknown key {key!r} in {where}{hint}", source=source)


# ------------------------------------------------------------------------- paths
Seg = str | int | None  # key, list index, or None for "every element" (records only)


def parse_path(text: str) -> list[Seg]:
    """``a.b[0].c`` → ['a', 'b', 0, 'c']; ``spans[]`` → ['spans', None]."""
    segs: list[Seg] = []
    for part in text.split("."):
        while "[" in part:
            head, _, rest = part.partition("[")
            idx, _, part = rest.partition("]")
            if head:
                segs.append(head)
            segs.append(None if idx.strip() == "" else int(idx))
        if part:
            segs.append(part)
    return segs


def _looks_json(v: str) -> bool:
    c = v[:1]
    if c == "{" or c == "[":
        return True
    if not c.isspace():
        return False
    c = v.lstrip()[:1]
    return c == "{" or c == "["


def resolve(node: Any, segs: list[Seg], i: int = 0) -> Any:
    """Follow ``segs`` from ``node``; None when any step is missing."""
    n = len(segs)
    while i < n:
        if node is None:
            return None
        if isinstance(node, str) and _looks_json(node):
            try:
                node = json.loads(node)
            except json.JSONDecodeError:
                return None
        s = segs[i]
        if isinstance(s, int):
            if isinstance(node, list) and -len(node) <= s < len(node):
                node = node[s]
                i += 1
                continue
            return None
        if not isinstance(node, dict):
            return None
        if s in node:
            node = node[s]
            i += 1
            continue
        # a dotted key such as "gen_ai.request.model": try the longest run of segments as one key
        for j in range(n, i + 1, -1):
            run = segs[i:j]
            if all(isinstance(x, str) for x in run):
                key = ".".join(run)  # type: ignore[arg-type]
                if key in node:
                    node = node[key]
                    i = j
                    break
        else:
            return None
    return node


def accessor(segs: list[Seg]) -> Callable[[Any], Any]:
    """A fast getter for one path: plain indexing, falling back to :func:`resolve` for the
    rare cases (dotted keys, JSON held as text, missing steps)."""
    if len(segs) == 1 and isinstance(segs[0], str):
        key = segs[0]

        def one(rec: Any) -> Any:
            return rec.get(key) if type(rec) is dict else resolve(rec, segs)
        return one
    steps = tuple(segs)

    def many(rec: Any) -> Any:
        node = rec
        try:
            for s in steps:
                if type(node) is str:
                    return resolve(rec, segs)
                node = node[s]
            return node
        except (KeyError, IndexError, TypeError):
            return resolve(rec, segs)
    return many


def content_text(c: Any) -> str:
    """Text of a message's content: a string, or a list of blocks/parts (non-text parts skipped)."""
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, dict):
        if c.get("type") not in (None, "text", "input_text", "output_text"):
            return ""
        t = c.get("text", c.get("content"))
        return content_text(t) if not isinstance(t, dict) else ""
    if isinstance(c, list):
        parts = [content_text(p) for p in c]
        return "\n".join(p for p in parts if p)
    return str(c)


def messages_text(v: Any) -> str:
    """``as = "text"``: a content value, a message, or a list of messages → their text."""
    if isinstance(v, list) and v and all(isinstance(m, dict) and "role" in m for m in v):
        return "\n".join(t for t in (_message_text(m) for m in v) if t)
    if isinstance(v, dict) and "role" in v:
        return _message_text(v)
    return content_text(v)


def _is_content(d: Any) -> bool:
    """Whether parsed JSON looks like messages or content blocks (not an answer that is JSON)."""
    keys = ("role", "type")
    if isinstance(d, dict):
        return any(k in d for k in keys) and any(k in d for k in ("content", "text", "parts"))
    return isinstance(d, list) and bool(d) and all(isinstance(x, dict) and any(k in x for k in keys) for x in d)


def text_of(v: Any) -> str:
    """``as = "text"``: text stays text, unless it is JSON of messages/content blocks (OTel attributes)."""
    if isinstance(v, str):
        if _looks_json(v):
            try:
                d = json.loads(v)
            except json.JSONDecodeError:
                return v
            if _is_content(d):
                return messages_text(d)
        return v
    return messages_text(v)


def _message_text(m: dict[str, Any]) -> str:
    return content_text(m.get("content", m.get("parts")))


# ------------------------------------------------------------------------- spec
@dataclass
class ColumnSpec:
    column: str
    paths: list[list[Seg]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    conv: str | None = None
    const: Any = None
    has_const: bool = False

    def describe(self) -> str:
        if self.has_const:
            return f"constant {self.const!r}"
        what = " or ".join(self.sources)
        return what + (f" ({self.conv})" if self.conv else "")


@dataclass
class Mapping:
    """A compiled mapping; :meth:`apply` turns source records into contract columns."""

    name: str
    kind: str = "events"
    description: str = ""
    zone_name: str | None = None
    records: list[Seg] | None = None
    otlp: bool = False
    keep_unmapped: bool = True
    drop: set[str] = field(default_factory=set)
    specs: dict[str, ColumnSpec] = field(default_factory=dict)
    messages: list[Seg] | None = None
    messages_source: str | None = None
    system: list[Seg] | None = None
    system_source: str | None = None
    constants: dict[str, Any] = field(default_factory=dict)
    _get_messages: Callable[[Any], Any] = field(default=lambda rec: None, repr=False)
    _fill: Callable[..., None] | None = field(default=None, repr=False)

    # ---- derived at compile time
    @property
    def columns(self) -> tuple[Column, ...]:
        return EVENT_COLUMNS if self.kind == "events" else ACCOUNT_COLUMNS

    def consumed(self) -> set[str]:
        """Top-level source fields some path reads (not carried as extras)."""
        tops: set[str] = set()
        for sp in self.specs.values():
            for p in sp.paths:
                if p and isinstance(p[0], str):
                    tops.add(p[0])
                    tops.add(".".join(x for x in p if isinstance(x, str)))
        for p in (self.messages, self.system):
            if p and isinstance(p[0], str):
                tops.add(p[0])
        return tops

    def describe(self) -> list[tuple[str, str]]:
        """(contract column, where it comes from) for every contract column."""
        out = []
        derived = self._derived()
        for c in self.columns:
            parts = []
            if c.name in self.specs:
                parts.append(self.specs[c.name].describe())
            if c.name in derived:
                parts.append(derived[c.name])
            if c.name in self.constants:
                parts.append(f"constant {self.constants[c.name]!r}")
            out.append((c.name, ", else ".join(parts) if parts else "— (not in this format)"))
        for k, v in self.constants.items():
            if k not in {c.name for c in self.columns}:
                out.append((k, f"constant {v!r} (extra column)"))
        return out

    def _derived(self) -> dict[str, str]:
        if self.messages is None:
            return {}
        m = self.messages_source
        sys_extra = f"{self.system_source} + " if self.system is not None else ""
        return {"prompt": f"{m}: text of the last user message",
                "system_prompt": f"{sys_extra}{m}: system/developer messages",
                "conversation_id": f"{m}: hash of account, system prompt and first user message"}

    # ---- applying
    def explode(self, rec: Any) -> list[Any]:
        """The records one source line holds (one, or many with ``records``)."""
        if self.records is None:
            return [rec]
        nodes = [rec]
        carry: list[dict[str, Any]] = [{}]
        path = self.records
        for k, s in enumerate(path):
            nxt, nxt_carry = [], []
            for node, extra in zip(nodes, carry):
                if s is None:
                    if isinstance(node, list):
                        nxt.extend(node)
                        nxt_carry.extend([extra] * len(node))
                    continue
                if isinstance(node, dict):
                    e = extra
                    if self.otlp and "resource" in node and isinstance(node["resource"], dict):
                        e = {**extra, "resource": _otlp_attrs(node["resource"].get("attributes"))}
                    if self.otlp and "scope" in node and isinstance(node["scope"], dict):
                        e = {**e, "scope": node["scope"]}
                    v = resolve(node, [s])
                    if v is not None:
                        nxt.append(v)
                        nxt_carry.append(e)
            nodes, carry = nxt, nxt_carry
        out = []
        for node, extra in zip(nodes, carry):
            if not isinstance(node, dict):
                continue
            if self.otlp:
                node = {**node, **extra, "attributes": _otlp_attrs(node.get("attributes"))}
            elif extra:
                node = {**node, **extra}
            out.append(node)
        return out

    def apply(self, records: list[Any], conv: "ConversationState | None" = None
              ) -> tuple[pa.Table, list[list[str]] | None]:
        """Source records → (raw contract table, reasons per row, or None when no row has one).

        ``ts`` comes back as a UTC timestamp column, token counts as int64, every other
        column as text; values that break the rules are null with a reason.
        """
        n = len(records)
        bad: dict[int, list[str]] = {}
        cols: dict[str, list[Any]] = {c.name: [None] * n for c in self.columns}
        ctype = {c.name: c.type for c in self.columns}
        if self._fill is None:
            self._fill = self._compile()
        extras: dict[str, list[Any]] = {}
        skip = self.consumed() | self.drop | set(ctype)
        const_cols = {k: v for k, v in self.constants.items() if k not in ctype}
        self._fill(records, cols, bad, rules.zone(self.zone_name), conv, skip, extras, n,
                   self._messages if self.messages is not None else None, self.keep_unmapped)
        arrays: dict[str, pa.Array] = {}
        for c in self.columns:
            vals = cols[c.name]
            if pa.types.is_timestamp(c.type):
                sec = pa.array(vals, pa.float64())
                arrays[c.name] = pc.round(pc.multiply(sec, 1e6)).cast(pa.int64()).cast(TS)
            elif pa.types.is_integer(c.type):
                arrays[c.name] = pa.array(vals, pa.int64())
            elif pa.types.is_boolean(c.type):
                arrays[c.name] = pa.array(vals, pa.bool_())
            else:
                arrays[c.name] = pa.array(vals, pa.string())
        for k, v in const_cols.items():
            arrays[k] = pa.array([_as_text(v)] * n, pa.string())
        for k, ex in extras.items():
            if k not in arrays:
                arrays[k] = pa.array(ex, pa.string())
        if not bad:
            return pa.table(arrays), None
        reasons: list[list[str]] = [[] for _ in range(n)]
        for i, r in bad.items():
            reasons[i] = r
        return pa.table(arrays), reasons

    def _converter(self, sp: ColumnSpec, typ: pa.DataType) -> Callable[[Any, Any], Any]:
        """value (already fetched, not None) → contract value, or RuleError."""
        name = sp.column
        if pa.types.is_timestamp(typ):
            unit = TS_CONVERSIONS[sp.conv or "auto"]

            def conv_ts(v: Any, zone: Any) -> Any:
                if v == "":
                    return None
                if unit == "iso" and not isinstance(v, str):
                    raise rules.RuleError(f"unparseable timestamp: expected ISO 8601 text, got {v!r}"[:120])
                if unit not in ("auto", "iso") and isinstance(v, str):
                    try:
                        v = float(v)
                    except ValueError:
                        raise rules.RuleError(f"unparseable timestamp: expected epoch {unit}, got {v[:40]!r}") from None
                if unit not in ("auto", "iso") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    sec = rules.epoch_seconds(float(v), unit)
                    if not math.isfinite(sec) or not (0 <= sec < 7_258_118_400):
                        raise rules.RuleError(f"unparseable timestamp: {v!r} is outside 1970..2200")
                    return sec
                return rules.parse_timestamp(v, zone)
            return conv_ts
        if pa.types.is_integer(typ):
            return lambda v, zone: None if v == "" else rules.parse_tokens(v, name)
        if pa.types.is_boolean(typ):
            def conv_bool(v: Any, zone: Any) -> Any:
                if isinstance(v, bool):
                    return v
                s = str(v).strip().lower()
                if s in ("true", "1", "yes", "t", "y"):
                    return True
                if s in ("false", "0", "no", "f", "n"):
                    return False
                raise rules.RuleError(f"wrong type for {name}: expected true or false, got {str(v)[:40]!r}")
            return conv_bool
        conv = sp.conv

        def conv_str(v: Any, zone: Any) -> Any:
            if conv == "text":
                return text_of(v)
            if conv == "json":
                return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            if isinstance(v, (dict, list)):
                raise rules.RuleError(f"wrong type for {name}: expected a string, got an object or array "
                                      "(use as = \"text\" or \"json\" in the mapping)")
            if isinstance(v, bool):
                return "true" if v else "false"
            return v if isinstance(v, str) else str(v)
        return conv_str

    def _compile(self) -> Callable[..., None]:
        """Generate one Python function that fills every column for a list of records.

        Paths become plain indexing (``rec["usage"]["prompt_tokens"]``) with :func:`resolve`
        as the fallback, and values already of the right type skip conversion, so a mapped
        record costs little more than a canonical one (bench/bench_ingest_map.py).
        """
        ctype = {c.name: c.type for c in self.columns}
        ns: dict[str, Any] = {"RuleError": rules.RuleError, "MAXT": rules.MAX_TOKENS, "_as_text": _as_text}
        lines = ["def fill(records, cols, bad, zone, conv, skip, extras, n, msg, keep):"]
        names = list(self.specs)
        for j, name in enumerate(names):
            lines.append(f"    c{j} = cols[{name!r}]")
        lines += ["    for i, rec in enumerate(records):",
                  "        if type(rec) is not dict:",
                  "            bad.setdefault(i, []).append('record is not an object')",
                  "            continue"]
        for j, name in enumerate(names):
            sp, typ = self.specs[name], ctype[name]
            if sp.has_const:
                v = sp.const
                if pa.types.is_timestamp(typ):
                    v = rules.parse_timestamp(v, rules.zone(self.zone_name))
                ns[f"K{j}"] = v
                lines.append(f"        c{j}[i] = K{j}")
                continue
            ns[f"conv{j}"] = self._converter(sp, typ)
            for k, path in enumerate(sp.paths):
                fetch = self._fetch_code(path, f"{j}_{k}", ns)
                pad = "        " if k == 0 else "            "
                if k:
                    lines.append("        if v is None or v == '':")
                lines += [pad + ln for ln in fetch]
            if pa.types.is_string(typ) and sp.conv is None:
                fast = "type(v) is str"
            elif pa.types.is_integer(typ):
                fast = "type(v) is int and 0 <= v <= MAXT"
            else:
                fast = "False"
            lines += ["        if v is not None:",
                      f"            if {fast}:",
                      f"                c{j}[i] = v",
                      "            else:",
                      "                try:",
                      f"                    c{j}[i] = conv{j}(v, zone)",
                      "                except RuleError as e:",
                      "                    bad.setdefault(i, []).append(str(e))"]
        for k, v in self.constants.items():
            if k in ctype:
                ns[f"C_{k}"] = v
                lines += [f"        if cols[{k!r}][i] is None:", f"            cols[{k!r}][i] = C_{k}"]
        lines += ["        if msg is not None:",
                  "            msg(rec, i, cols, bad, conv)",
                  "        if keep:",
                  "            for k, v in rec.items():",
                  "                if k in skip:",
                  "                    continue",
                  "                ex = extras.get(k)",
                  "                if ex is None:",
                  "                    ex = extras[k] = [None] * n",
                  "                ex[i] = v if type(v) is str else _as_text(v)"]
        exec("\n".join(lines), ns)  # noqa: S102 - code built from parsed paths only (keys are repr()-quoted)
        return ns["fill"]  # type: ignore[no-any-return]

    @staticmethod
    def _fetch_code(path: list[Seg], tag: str, ns: dict[str, Any]) -> list[str]:
        """Code that sets ``v`` from ``rec`` along ``path``."""
        if len(path) == 1 and isinstance(path[0], str):
            return [f"v = rec.get({path[0]!r})"]
        ns[f"slow{tag}"] = accessor(path)
        if all(isinstance(x, str) for x in path):
            index = "".join(f"[{x!r}]" for x in path)
            return ["try:", f"    v = rec{index}", "except (KeyError, TypeError, IndexError):",
                    f"    v = slow{tag}(rec)"]
        return [f"v = slow{tag}(rec)"]

    def _messages(self, rec: dict[str, Any], i: int, cols: dict[str, list[Any]], reasons: dict[int, list[str]],
                  conv: "ConversationState | None") -> None:
        msgs = self._get_messages(rec)
        if type(msgs) is str:
            msgs = _maybe_json(msgs)
        if msgs is None or msgs == {}:
            return
        if not isinstance(msgs, list):
            reasons.setdefault(i, []).append(f"wrong type for {self.messages_source}: expected a list of messages")
            return
        system_parts: list[str] = []
        if self.system is not None:
            s = content_text(_maybe_json(resolve(rec, self.system)))
            if s:
                system_parts.append(s)
        first_user = last_user = None
        earlier = 0  # user/assistant turns before the last user message
        for m in msgs:
            if type(m) is not dict:
                continue
            role = m.get("role")
            if role == "user":
                t = m.get("content")
                if type(t) is not str:
                    t = _message_text(m)
                if first_user is None:
                    first_user = t
                else:
                    earlier += 1
                last_user = t
            elif role == "assistant":
                if first_user is not None:
                    earlier += 1
            elif role in _SYSTEM_ROLES:
                t = _message_text(m)
                if t:
                    system_parts.append(t)
        system = "\n\n".join(system_parts) if system_parts else None
        sp, pr, cv = cols["system_prompt"], cols["prompt"], cols["conversation_id"]
        if sp[i] is None:
            sp[i] = system
        if pr[i] is None and last_user is not None:
            pr[i] = last_user
        if cv[i] is None and first_user is not None:
            acct = cols["account_id"][i] or ""
            h = hashlib.blake2b(f"{acct}\x1f{system or ''}\x1f{first_user}".encode("utf-8", "surrogatepass"),
                                digest_size=8).hexdigest()
            cv[i] = "m-" + h
            if conv is not None:
                conv.add("m-" + h, cols["ts"][i], cols["request_id"][i], bool(earlier))


@dataclass
class ConversationState:
    """Derived conversation ids of one ingest run: who opened, who continued, and when."""

    opened: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    continued: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, ts: float | None, request_id: str | None, has_history: bool) -> None:
        t = float("inf") if ts is None else float(ts)
        if has_history:
            self.continued.setdefault(key, []).append(t)
        elif request_id is not None:
            self.opened.setdefault(key, []).append((t, str(request_id)))

    def single_turn(self) -> set[str]:
        """Request ids without earlier turns that open no continued chat."""
        import bisect

        out: set[str] = set()
        for key, opens in self.opened.items():
            conts = self.continued.get(key)
            if not conts:
                out.update(r for _, r in opens)
                continue
            opens.sort()
            times = [t for t, _ in opens]
            keep = set()
            for t in conts:
                j = bisect.bisect_right(times, t) - 1
                if j >= 0:
                    keep.add(j)
            out.update(r for j, (_, r) in enumerate(opens) if j not in keep)
        return out


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str) and _looks_json(v):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _otlp_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [_otlp_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return _otlp_attrs((v["kvlistValue"] or {}).get("values"))
    return None


def _otlp_attrs(attrs: Any) -> dict[str, Any]:
    """OTLP JSON ``[{"key": k, "value": {"stringValue": v}}]`` → ``{k: v}``."""
    if isinstance(attrs, dict):
        return attrs
    out: dict[str, Any] = {}
    for a in attrs or []:
        if isinstance(a, dict) and "key" in a:
            out[a["key"]] = _otlp_value(a.get("value"))
    return out


# ------------------------------------------------------------------------- loading
def _read_doc(spec: str) -> tuple[dict[str, Any], str]:
    p = Path(spec)
    if p.suffix == ".toml" or p.exists() or "/" in spec:
        if not p.is_file():
            raise ConfigError("mapping file not found", source=spec)
        text, source = p.read_text(encoding="utf-8"), str(p)
    else:
        names = profiles()
        if spec not in names:
            near = difflib.get_close_matches(spec, names, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(f"no mapping profile named {spec!r}; {hint}built-in profiles: {', '.join(names)} "
                              "(or give a .toml file)")
        text = resources.files("distillguard.ingest").joinpath(PROFILE_DIR, f"{spec}.toml").read_text("utf-8")
        source = f"profile {spec}"
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", source=source) from e


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "columns":
            out[k] = _merge(out[k], v)
        elif k == "columns" and isinstance(v, dict):
            out[k] = {**out.get(k, {}), **v}
        else:
            out[k] = v
    return out


def load_mapping(spec: str | Path, _depth: int = 0) -> Mapping:
    """Load a mapping: a packaged profile name or a TOML file. Errors name the bad key."""
    spec = str(spec)
    doc, source = _read_doc(spec)
    parent = (doc.get("mapping") or {}).get("extends")
    if parent:
        if _depth > 4:
            raise ConfigError("mapping 'extends' chain is too deep", source=source)
        base_doc, _ = _read_doc(str(parent))
        doc = _merge(base_doc, doc)
        doc["mapping"].pop("extends", None)
    return compile_mapping(doc, Path(spec).stem if source != f"profile {spec}" else spec, source)


def compile_mapping(doc: dict[str, Any], name: str, source: str = "mapping") -> Mapping:
    for k in doc:
        if k not in _TOP_KEYS:
            raise _unknown(k, _TOP_KEYS, "the mapping (top-level tables)", source)
    meta = doc.get("mapping") or {}
    for k in meta:
        if k not in _MAPPING_KEYS:
            raise _unknown(k, _MAPPING_KEYS, "[mapping]", source)
    kind = meta.get("kind", "events")
    if kind not in ("events", "accounts"):
        raise ConfigError(f"[mapping] kind must be events or accounts, not {kind!r}", source=source)
    m = Mapping(name=name, kind=kind, description=str(meta.get("description", "")),
                zone_name=meta.get("zone"), otlp=bool(meta.get("otlp", False)),
                keep_unmapped=bool(meta.get("keep_unmapped", True)), drop=set(meta.get("drop", [])))
    if m.zone_name is not None:
        try:
            rules.zone(m.zone_name)
        except rules.RuleError as e:
            raise ConfigError(f"[mapping] zone: {e}", source=source) from None
    if meta.get("records"):
        m.records = parse_path(str(meta["records"]))
    valid_cols = [c.name for c in m.columns]
    ctype = {c.name: c.type for c in m.columns}
    for col, raw in (doc.get("columns") or {}).items():
        if col not in ctype:
            raise _unknown(col, valid_cols, "[columns] (contract columns; use [constants] for extra ones)", source)
        m.specs[col] = _spec(col, raw, ctype[col], source)
    msgs = doc.get("messages")
    if msgs is not None:
        if m.kind != "events":
            raise ConfigError("[messages] applies to events only", source=source)
        for k in msgs:
            if k not in _MESSAGES_KEYS:
                raise _unknown(k, _MESSAGES_KEYS, "[messages]", source)
        if "from" not in msgs:
            raise ConfigError("[messages] needs from = \"<path to the messages list>\"", source=source)
        m.messages, m.messages_source = parse_path(str(msgs["from"])), str(msgs["from"])
        m._get_messages = accessor(m.messages)
        if msgs.get("system"):
            m.system, m.system_source = parse_path(str(msgs["system"])), str(msgs["system"])
    m.constants = dict(doc.get("constants") or {})
    for k in [c.name for c in m.columns if c.required]:
        derived = m.messages is not None and k == "prompt"
        if k not in m.specs and k not in m.constants and not derived:
            raise ConfigError(f"the mapping does not say where the required column {k!r} comes from "
                              f"(add it under [columns])", source=source)
    return m


def _spec(col: str, raw: Any, typ: pa.DataType, source: str) -> ColumnSpec:
    sp = ColumnSpec(col)
    if isinstance(raw, str):
        raw = {"from": raw}
    elif isinstance(raw, list):
        raw = {"from": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"[columns] {col}: expected a path, a list of paths or a table", source=source)
    for k in raw:
        if k not in _SPEC_KEYS:
            raise _unknown(k, _SPEC_KEYS, f"[columns] {col}", source)
    if "const" in raw:
        sp.const, sp.has_const = raw["const"], True
        return sp
    src = raw.get("from")
    paths = [src] if isinstance(src, str) else src
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(f"[columns] {col}: 'from' must be a path or a list of paths", source=source)
    sp.sources = list(paths)
    sp.paths = [parse_path(p) for p in paths]
    conv = raw.get("as")
    if conv is not None:
        valid = tuple(TS_CONVERSIONS) if pa.types.is_timestamp(typ) else STR_CONVERSIONS \
            if pa.types.is_string(typ) else ()
        if conv not in valid:
            raise ConfigError(f"[columns] {col}: as = {conv!r} is not valid here"
                              + (f"; use one of {', '.join(valid)}" if valid else " (numbers take no conversion)"),
                              source=source)
        sp.conv = None if conv in ("auto", "str") else conv
    return sp


__all__ = ["ConversationState", "Mapping", "compile_mapping", "content_text", "load_mapping", "parse_path", "profiles", "resolve"]
