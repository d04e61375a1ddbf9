"""An append-only, hash-chained log of everything this member shared.

Compliance must be able to answer "what did we send, when, to whom, under which policy?"
and trust the answer. Each line of ``audit.jsonl`` is one JSON entry whose ``hash`` is the
SHA-256 of its canonical JSON (without ``hash``) and which carries the previous entry's
hash in ``prev``; the exact bytes sent are kept beside it in ``sent/<sha256>.json``. Editing,
deleting, reordering or inserting a line, or altering a kept bundle, breaks the chain, and
:func:`verify` says where.

A chain alone cannot show that entries were removed *from the end*, or that the log was
emptied. So every append also rewrites ``HEAD`` (seq and hash of the newest entry, MAC'd
with the member's audit key when one is given: ``key``, kept outside the audit folder).
``verify`` requires the log to end exactly at HEAD: deleting the last lines, or every
line, is caught; with a key, forging a HEAD for a shortened log needs the key. Rolling
both back to an older consistent state is caught only by an anchor kept elsewhere (print
``audit show``'s head into a ticket; ``verify(expect_head=...)`` checks it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from distillguard.errors import AuditTamperedError, InputError
from distillguard.intel.policy import SharingPolicy

LOG_FILE = "audit.jsonl"
HEAD_FILE = "HEAD"
SENT_DIR = "sent"
GENESIS = "0" * 64


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class AuditReport:
    entries: int
    head: str


class AuditLog:
    """The audit log in one folder. ``append`` is the only way to write it."""

    def __init__(self, folder: str | Path, key: bytes | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOG_FILE
        self.head_path = self.folder / HEAD_FILE
        self.key = key

    def _head_mac(self, seq: int, digest: str) -> str | None:
        if not self.key:
            return None
        return hmac.new(self.key, f"distillguard-audit-head\x00{seq}\x00{digest}".encode(), hashlib.sha256).hexdigest()

    def _write_head(self, seq: int, digest: str) -> None:
        doc = {"seq": seq, "hash": digest, "mac": self._head_mac(seq, digest)}
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_bytes(canonical(doc) + b"\n")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.replace(self.head_path)

    def head(self) -> dict[str, Any] | None:
        if not self.head_path.exists():
            return None
        try:
            doc = json.loads(self.head_path.read_text())
        except json.JSONDecodeError as e:
            raise AuditTamperedError(f"HEAD is not JSON: {e}", source=str(self.head_path)) from e
        return doc if isinstance(doc, dict) else None

    def _last(self) -> tuple[int, str]:
        if not self.path.exists():
            return 0, GENESIS
        last = None
        with self.path.open("rb") as f:
            for line in f:
                if line.strip():
                    last = line
        if last is None:
            return 0, GENESIS
        e = json.loads(last)
        return int(e["seq"]), str(e["hash"])

    def append(self, *, action: str, payload: bytes, destination: str, policy: SharingPolicy,
               summary: dict[str, Any] | None = None, when: datetime | None = None) -> dict[str, Any]:
        """Record that ``payload`` (the exact bytes) was sent to ``destination``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / SENT_DIR).mkdir(exist_ok=True)
        sha = hashlib.sha256(payload).hexdigest()
        kept = self.folder / SENT_DIR / f"{sha}.json"
        if not kept.exists():
            kept.write_bytes(payload)
        seq, prev = self._last()
        entry: dict[str, Any] = {
            "seq": seq + 1,
            "ts": (when or datetime.now(timezone.utc)).isoformat(),
            "action": action,
            "destination": destination,
            "policy_name": policy.name,
            "policy_version": policy.version,
            "policy_digest": policy.digest,
            "payload_sha256": sha,
            "payload_bytes": len(payload),
            "summary": summary or {},
            "prev": prev,
        }
        entry["hash"] = _entry_hash(entry)
        with self.path.open("ab") as f:
            f.write(canonical(entry) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self._write_head(entry["seq"], entry["hash"])
        return entry

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise AuditTamperedError(f"line {n} is not JSON: {e}", source=str(self.path)) from e
        return out

    def verify(self, expect_head: str | None = None, check_payloads: bool = True) -> AuditReport:
        """Check the whole chain; raise AuditTamperedError naming the first broken entry."""
        if not self.path.exists() and not self.head_path.exists():
            raise InputError("no audit log here", source=str(self.path))
        prev, seq = GENESIS, 0
        entries = self.entries()
        for n, e in enumerate(entries, 1):
            where = f"{self.path}:{n}"
            if not isinstance(e, dict) or "hash" not in e:
                raise AuditTamperedError("entry lacks its hash", source=where)
            if e.get("prev") != prev:
                raise AuditTamperedError("chain broken: prev does not match the previous entry's hash "
                                         "(an entry was removed, inserted or reordered)", source=where)
            if _entry_hash(e) != e["hash"]:
                raise AuditTamperedError("entry was modified after it was written (hash mismatch)", source=where)
            if e.get("seq") != seq + 1:
                raise AuditTamperedError(f"sequence jumps from {seq} to {e.get('seq')}", source=where)
            if check_payloads:
                kept = self.folder / SENT_DIR / f"{e['payload_sha256']}.json"
                if not kept.exists():
                    raise AuditTamperedError("the bundle that was sent is missing from sent/", source=where)
                if hashlib.sha256(kept.read_bytes()).hexdigest() != e["payload_sha256"]:
                    raise AuditTamperedError("the kept copy of the sent bundle was altered", source=where)
            prev, seq = e["hash"], e["seq"]
        head = self.head()
        if head is None:
            if entries:
                raise AuditTamperedError("HEAD is missing: the log's end cannot be checked "
                                         "(deleted, or written by a version without HEAD)", source=str(self.head_path))
        else:
            if self.key is not None and not hmac.compare_digest(
                    str(head.get("mac") or ""), self._head_mac(int(head.get("seq", -1)), str(head.get("hash"))) or ""):
                raise AuditTamperedError("HEAD's MAC does not verify under the audit key (HEAD was forged "
                                         "or the key is wrong)", source=str(self.head_path))
            if head.get("seq") != seq or head.get("hash") != prev:
                raise AuditTamperedError(f"the log ends at entry {seq} but HEAD records entry {head.get('seq')}: "
                                         "entries were removed from the end (or the log was emptied)",
                                         source=str(self.path))
        if expect_head is not None and prev != expect_head:
            raise AuditTamperedError("the log's latest hash differs from the anchored one "
                                     "(the log was truncated or rewritten)", source=str(self.path))
        return AuditReport(len(entries), prev)
