"""Scoped, bounded memo of per-text results (sketch rows, embedding vectors).

Why: a scan computes the same pure per-prompt functions many times over: the replay
re-scores flagged accounts on their first 4, 8, 16, … events, so each prefix's prompts
are mostly the previous prefix's prompts again, and the window test embeds its null
accounts once to calibrate and once to score. Results are pure functions of the text,
so reusing them changes nothing but time.

The memo is off unless a scan switches it on (:func:`active`), holds at most
``max_entries`` texts of at most ``max_chars`` characters (a pasted article is recomputed,
not stored), and stops admitting new texts when full (no eviction: deterministic and
cheap). Values are fixed-size byte rows, so a batch is rebuilt with one ``b"".join``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

MAX_CHARS = 2_000


class TextMemo:
    """text -> fixed-size bytes row, bounded; safe to share between threads (GIL-atomic dict ops)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.rows: dict[str, bytes] = {}
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> bytes | None:
        row = self.rows.get(text)
        if row is None:
            self.misses += 1
        else:
            self.hits += 1
        return row

    def put(self, text: str, row: bytes) -> None:
        if len(self.rows) < self.max_entries and len(text) <= MAX_CHARS:
            self.rows[text] = row


_memos: dict[str, TextMemo] = {}
_lock = threading.Lock()


def memo(name: str) -> TextMemo | None:
    """The active memo called ``name`` ("sketch", "embed"), or None when memoising is off."""
    return _memos.get(name)


@contextmanager
def active(**limits: int) -> Iterator[dict[str, TextMemo]]:
    """Switch memos on for the block, e.g. ``active(sketch=200_000, embed=80_000)``.

    Memos live in this process for the block only (one scan at a time switches them on;
    a nested block reuses the outer memos).
    """
    with _lock:
        mine = {k: TextMemo(v) for k, v in limits.items() if k not in _memos and v > 0}
        _memos.update(mine)
    try:
        yield {k: _memos[k] for k in limits if k in _memos}
    finally:
        with _lock:
            for k in mine:
                _memos.pop(k, None)
