"""The one timestamp and token-count rule, shared by batch ingest and ``POST /v1/events``.

Timestamps
    * RFC 3339 / ISO 8601 with a zone (``Z`` or ``±hh:mm``) is read as that instant.
    * A time without a zone ("naive") is refused, unless a zone is given explicitly
      (``ingest.naive_timezone``, or a mapping's ``zone``): then it is read in that zone.
    * A date alone (``2026-03-01``) is refused: a request time needs a time of day.
    * A number (or a string of digits) is epoch time: seconds, or milliseconds when it is
      above 10^11 (any date after 1973 in ms; 5138 AD in seconds).
    * Anything else, and times outside years 1970..2200, are refused.

Token counts
    * A non-negative integer up to 2^53 (a JSON number, or its text; ``12.0`` is 12).
    * Negative numbers, fractions, text and anything larger are refused.

Each check returns the parsed value or raises :class:`RuleError` with the sentence that
ends up in the quarantine file (batch) or the 422 answer (service).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from typing import Any

MAX_TOKENS = 2**53
EPOCH_MS_ABOVE = 1e11
_MIN_EPOCH = 0.0
_MAX_EPOCH = 7_258_118_400.0  # 2200-01-01
_DIGITS = re.compile(r"^-?\d+(\.\d+)?$")


class RuleError(ValueError):
    """A value the contract refuses; ``str(e)`` is the reason shown to the user."""


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo | None:
    """An IANA zone name (``Europe/Paris``) or ``UTC`` as a tzinfo; None stays None."""
    if name is None:
        return None
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Paris)") from None


def _shown(v: Any) -> str:
    s = str(v)
    return repr(s if len(s) <= 40 else s[:37] + "...")


def epoch_seconds(x: float, unit: str = "auto") -> float:
    """Epoch number → seconds: ``unit`` is s, ms, us, ns or auto (ms above 10^11)."""
    if unit == "auto":
        unit = "ms" if abs(x) > EPOCH_MS_ABOVE else "s"
    div = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
    return x / div


def _check_range(sec: float, raw: Any) -> float:
    if not math.isfinite(sec) or not (_MIN_EPOCH <= sec < _MAX_EPOCH):
        raise RuleError(f"unparseable timestamp: {_shown(raw)} is outside 1970..2200")
    return sec


def parse_timestamp(v: Any, naive_zone: tzinfo | None = None, unit: str = "auto") -> float:
    """Epoch seconds (UTC) from text or a number, by the rule above."""
    if isinstance(v, bool) or v is None:
        raise RuleError(f"unparseable timestamp: expected an RFC 3339 time or epoch number, got {_shown(v)}")
    if isinstance(v, (int, float)):
        return _check_range(epoch_seconds(float(v), unit), v)
    if isinstance(v, datetime):
        d = v
    elif isinstance(v, date):
        raise RuleError(f"unparseable timestamp: {_shown(v)} is a date without a time of day")
    elif isinstance(v, str):
        s = v.strip()
        if _DIGITS.match(s):
            return _check_range(epoch_seconds(float(s), unit), v)
        if len(s) == 10 and s[4:5] == "-" and s[7:8] == "-":
            raise RuleError(f"unparseable timestamp: {_shown(v)} is a date without a time of day")
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            d = datetime.fromisoformat(s)
        except ValueError:
            raise RuleError(f"unparseable timestamp: expected an RFC 3339 time, got {_shown(v)}") from None
    else:
        raise RuleError(f"unparseable timestamp: expected an RFC 3339 time or epoch number, got {_shown(v)}")
    if d.tzinfo is None:
        if naive_zone is None:
            raise RuleError(f"unparseable timestamp: {_shown(v)} has no time zone (add Z or an offset, "
                            "or set ingest.naive_timezone / the mapping's zone)")
        d = d.replace(tzinfo=naive_zone)
    return _check_range(d.timestamp(), v)


def to_datetime(sec: float) -> datetime:
    return datetime.fromtimestamp(sec, tz=timezone.utc)


def parse_tokens(v: Any, column: str) -> int:
    """A token count by the rule above."""
    if isinstance(v, bool):
        raise RuleError(f"wrong type for {column}: expected a non-negative integer, got {_shown(v)}")
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            raise RuleError(f"wrong type for {column}: expected a non-negative integer, got {_shown(v)}")
        if abs(v) > MAX_TOKENS:
            raise RuleError(f"out of range for {column}: {_shown(v)} is above {MAX_TOKENS:,}")
        n = int(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            n = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise RuleError(f"wrong type for {column}: expected a non-negative integer, got {_shown(v)}") from None
            return parse_tokens(f, column)
    else:
        raise RuleError(f"wrong type for {column}: expected a non-negative integer, got {_shown(v)}")
    if n < 0:
        raise RuleError(f"wrong type for {column}: expected a non-negative integer, got {n}")
    if n > MAX_TOKENS:
        raise RuleError(f"out of range for {column}: {_shown(v)} is above {MAX_TOKENS:,}")
    return n


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_REGEX = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
"""Control characters a log value must not hold (tab, newline and carriage return are fine)."""


def control_char(s: str) -> str | None:
    """The first forbidden control character of ``s`` as ``U+XXXX``, or None."""
    m = _CONTROL.search(s)
    return f"U+{ord(m.group()):04X}" if m else None


__all__ = ["MAX_TOKENS", "RuleError", "control_char", "parse_timestamp", "parse_tokens", "to_datetime", "zone"]
