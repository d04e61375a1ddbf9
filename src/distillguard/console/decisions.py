"""Decisions on cases, and where each one goes.

An action changes a case's status, writes one activity, and queues what follows from it,
all in one transaction:

* **the guard** (``guard_outbox`` → ``POST /v1/feedback`` on the guard): confirm sends
  ``confirmed`` for every member account (the guard applies ``[feedback] confirmed_action``),
  dismiss and allowlist send ``false_positive`` (the guard allows and forgets the evidence),
  reopen sends ``reopen`` (the analyst override is lifted; live evidence decides again).
  Delivery happens after the commit and is retried until the guard has it, so a guard that
  is down loses nothing.
* **training labels** (:func:`labels`): confirmed → ``distillation``, dismissed → ``benign``.
* **intel** (:func:`confirmed_campaigns`, :func:`record_share`): only confirmed campaign
  cases are exported by ``intel export --cases``; dismissing a case that was shared writes
  a retraction bundle (its indicators, ``revoked: true``) to push.

Appeal reopens a confirmed case (status ``appealed``) for a reviewer to decide again; undo
of a batch reopens every case the batch closed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from distillguard.console import activity
from distillguard.console.auth import DECIDE, TRIAGE, User
from distillguard.console.store import ACTIVE, CaseStore, QueueFilter
from distillguard.errors import DistillGuardError, InputError


class ActionError(DistillGuardError):
    """An action that does not apply to the case as it is (wrong status, wrong role)."""


ACTIONS = ("assign", "note", "escalate", "confirm", "dismiss", "allowlist", "appeal", "reopen")
BATCH_ACTIONS = ("confirm", "dismiss", "allowlist", "escalate")
NEEDS_REVIEWER = ("confirm", "dismiss", "allowlist", "reopen")
# from which statuses each action may be taken, and to which status it moves the case
FROM: dict[str, tuple[str, ...]] = {
    "assign": ("open", "in_review", "appealed", "reopened", "confirmed", "dismissed"),
    "note": ("open", "in_review", "appealed", "reopened", "confirmed", "dismissed"),
    "escalate": ACTIVE,
    "confirm": ACTIVE,
    "dismiss": ACTIVE,
    "allowlist": ACTIVE,
    "appeal": ("confirmed",),
    "reopen": ("confirmed", "dismissed"),
}
TO = {"escalate": "in_review", "confirm": "confirmed", "dismiss": "dismissed", "allowlist": "dismissed",
      "appeal": "appealed", "reopen": "reopened"}
GUARD_VERDICT = {"confirm": "confirmed", "dismiss": "false_positive", "allowlist": "false_positive", "reopen": "reopen"}
MAX_NOTE = 4000


@dataclass
class Outcome:
    case_id: int
    action: str
    status_from: str
    status_to: str
    seq: int
    retraction: str | None = None
    guard_queued: int = 0


@dataclass
class BatchPreview:
    action: str
    filter: QueueFilter
    eligible: list[int]
    skipped: int
    token: str


@dataclass
class Settings:
    """Where decisions go: the guard's URL and admin token, and the folder for retraction bundles."""

    guard_url: str | None = None
    guard_token: str | None = None
    retractions_dir: Path | None = None


def _clean(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    t = str(text).strip()
    if len(t) > MAX_NOTE:
        raise InputError(f"{what} is longer than {MAX_NOTE} characters")
    return t or None


def check_role(user: User, action: str) -> None:
    allowed = DECIDE if action in NEEDS_REVIEWER else TRIAGE
    if user.role not in allowed:
        raise PermissionError(f"the {user.role} role cannot {action} (needs {' or '.join(allowed)})")


def _case_row(db: sqlite3.Connection, case_id: int) -> tuple[str, str, str, str | None]:
    row = db.execute("SELECT status, kind, ref, triaged_at FROM cases WHERE id=?", (case_id,)).fetchone()
    if row is None:
        raise InputError(f"no case #{case_id}")
    return str(row[0]), str(row[1]), str(row[2]), row[3]


def _act(db: sqlite3.Connection, cfg: Settings, case_id: int, action: str, user: User, *, reason: str | None,
         note_internal: str | None, note_public: str | None, assignee: str | None = None,
         batch_id: str | None = None) -> Outcome:
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    check_role(user, action)
    status, kind, ref, triaged = _case_row(db, case_id)
    if status not in FROM[action]:
        raise ActionError(f"case #{case_id} is {status.replace('_', ' ')}: it cannot be {action}ed now"
                          + (" (reopen it first)" if status in ("confirmed", "dismissed") else ""))
    if action == "note" and not (note_internal or note_public):
        raise InputError("a note needs text (internal or public)")
    now = activity.now_iso()
    new = TO.get(action, status)
    if action == "assign":
        who = (assignee or user.name).strip()
        if not who:
            raise InputError("assign needs a user name")
        if db.execute("SELECT 1 FROM users WHERE name=? AND disabled=0", (who,)).fetchone() is None:
            raise InputError(f"no console user named {who!r} to assign to")
        new = "in_review" if status in ("open", "reopened") else status
        db.execute("UPDATE cases SET assignee=? WHERE id=?", (who, case_id))
    data: dict[str, Any] = {}
    if action == "assign":
        data["assignee"] = assignee or user.name
    if status == "appealed" and action in ("confirm", "dismiss", "allowlist"):
        data["appeal_outcome"] = "rejected" if action == "confirm" else "granted"
    db.execute("UPDATE cases SET status=?, updated_at=?, triaged_at=COALESCE(triaged_at, ?) WHERE id=?",
               (new, now, now, case_id))
    if action == "escalate":
        db.execute("UPDATE cases SET escalated=1 WHERE id=?", (case_id,))
    if action in ("confirm", "dismiss", "allowlist"):
        db.execute("UPDATE cases SET decision=?, decided_at=COALESCE(decided_at, ?), escalated=0 WHERE id=?",
                   (action, now, case_id))
    if action == "reopen":
        db.execute("UPDATE cases SET decision=NULL WHERE id=?", (case_id,))
        db.execute("DELETE FROM allowlist WHERE case_id=?", (case_id,))
    members = [str(r[0]) for r in db.execute("SELECT account_id FROM case_accounts WHERE case_id=?", (case_id,))]
    if action == "allowlist":
        db.executemany("INSERT OR REPLACE INTO allowlist VALUES (?, ?, ?, ?, ?)",
                       [(a, case_id, user.name, now, reason) for a in members])
    entry = activity.append(db, actor=user.name, role=user.role, type=action, case_id=case_id, status_from=status,
                            status_to=new, reason=reason, note_internal=note_internal, note_public=note_public,
                            batch_id=batch_id, data=data, ts=now)
    out = Outcome(case_id, action, status, new, int(entry["seq"]))
    verdict = GUARD_VERDICT.get(action)
    if verdict:
        note = f"console case #{case_id} ({kind} {ref}): {action}" + (f" — {reason}" if reason else "")
        db.executemany("INSERT INTO guard_outbox (activity_seq, case_id, account_id, verdict, analyst, note, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(out.seq, case_id, a, verdict, user.name, note[:MAX_NOTE], now) for a in members])
        out.guard_queued = len(members)
    if action in ("dismiss", "allowlist"):
        out.retraction = _retract(db, cfg, case_id, user, now)
    return out


def act(store: CaseStore, cfg: Settings, case_id: int, action: str, user: User, *, reason: str | None = None,
        note_internal: str | None = None, note_public: str | None = None, assignee: str | None = None) -> Outcome:
    """Take one action on one case (see the module docstring for what follows from it)."""
    with store.tx() as db:
        return _act(db, cfg, case_id, action, user, reason=_clean(reason, "the reason"),
                    note_internal=_clean(note_internal, "the internal note"),
                    note_public=_clean(note_public, "the public note"), assignee=_clean(assignee, "the assignee"))


# ---------------------------------------------------------------------------- batches
def _eligible(store: CaseStore, f: QueueFilter, action: str) -> tuple[list[int], int]:
    ids = store.case_ids(f)
    if not ids:
        return [], 0
    ok = []
    allowed = FROM[action]
    for chunk in range(0, len(ids), 900):
        part = ids[chunk:chunk + 900]
        rows = store.query(f"SELECT id, status FROM cases WHERE id IN ({','.join('?' * len(part))})", part)
        ok += [int(i) for i, s in rows if s in allowed]
    ok.sort()
    return ok, len(ids) - len(ok)


def _token(action: str, ids: list[int]) -> str:
    return hashlib.sha256(f"{action}:{','.join(map(str, ids))}".encode()).hexdigest()[:32]


def preview(store: CaseStore, f: QueueFilter, action: str) -> BatchPreview:
    """What a batch action over the filter would change; changes nothing (the dry run)."""
    if action not in BATCH_ACTIONS:
        raise InputError(f"batch actions are {', '.join(BATCH_ACTIONS)}")
    ids, skipped = _eligible(store, f, action)
    return BatchPreview(action, f, ids, skipped, _token(action, ids))


def apply_batch(store: CaseStore, cfg: Settings, f: QueueFilter, action: str, user: User, token: str,
                reason: str | None = None, note_public: str | None = None) -> tuple[str, list[Outcome]]:
    """Apply a previewed batch. ``token`` is the preview's: if the matching cases changed since
    the preview, nothing is applied (the reviewer must look at the new preview)."""
    if action not in BATCH_ACTIONS:
        raise InputError(f"batch actions are {', '.join(BATCH_ACTIONS)}")
    check_role(user, action)
    reason = _clean(reason, "the reason")
    if not reason:
        raise InputError("a batch action needs a reason (it is recorded on every case)")
    with store.tx() as db:
        ids, _ = _eligible(store, f, action)
        if _token(action, ids) != token:
            raise ActionError("the cases matching this filter changed since the preview: preview again")
        if not ids:
            raise ActionError("no case matches this filter in a state this action applies to")
        batch_id = "b-" + uuid.uuid4().hex[:12]
        outs = [_act(db, cfg, i, action, user, reason=reason, note_internal=None,
                     note_public=_clean(note_public, "the public note"), batch_id=batch_id) for i in ids]
        db.execute("INSERT INTO batches (id, actor, ts, action, filter, case_ids, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (batch_id, user.name, activity.now_iso(), action, json.dumps(f.params(), sort_keys=True),
                    json.dumps(ids), reason))
    return batch_id, outs


def batch(store: CaseStore, batch_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT id, actor, ts, action, filter, case_ids, reason, undone_at, undone_by FROM batches "
                       "WHERE id=?", (batch_id,))
    if not rows:
        return None
    k = ("id", "actor", "ts", "action", "filter", "case_ids", "reason", "undone_at", "undone_by")
    d = dict(zip(k, rows[0]))
    d["filter"], d["case_ids"] = json.loads(d["filter"]), json.loads(d["case_ids"])
    return d


def batches(store: CaseStore, limit: int = 50) -> list[dict[str, Any]]:
    return [b for (i,) in store.query("SELECT id FROM batches ORDER BY ts DESC LIMIT ?", (limit,))
            if (b := batch(store, str(i))) is not None]


def undo_batch(store: CaseStore, cfg: Settings, batch_id: str, user: User, reason: str | None = None) -> list[Outcome]:
    """Reopen every case the batch closed that is still as the batch left it."""
    check_role(user, "reopen")
    b = batch(store, batch_id)
    if b is None:
        raise InputError(f"no batch {batch_id}")
    if b["undone_at"]:
        raise ActionError(f"batch {batch_id} was already undone by {b['undone_by']}")
    closed = TO[b["action"]] if b["action"] in ("confirm", "dismiss", "allowlist") else None
    why = _clean(reason, "the reason") or f"undo of batch {batch_id}"
    outs: list[Outcome] = []
    with store.tx() as db:
        for cid in b["case_ids"]:
            status = db.execute("SELECT status FROM cases WHERE id=?", (cid,)).fetchone()
            if closed and status and status[0] == closed:
                outs.append(_act(db, cfg, int(cid), "reopen", user, reason=why, note_internal=None, note_public=None,
                                 batch_id=batch_id))
            elif b["action"] == "escalate":
                db.execute("UPDATE cases SET escalated=0 WHERE id=?", (cid,))
        db.execute("UPDATE batches SET undone_at=?, undone_by=? WHERE id=?", (activity.now_iso(), user.name, batch_id))
    return outs


# ---------------------------------------------------------------------------- the guard
_DELIVERY = threading.Lock()


def deliver(store: CaseStore, cfg: Settings, limit: int = 5000, timeout_s: float = 3.0) -> tuple[int, int]:
    """Send pending feedback to the guard, oldest first; returns (delivered, failed).

    Stops at the first transport error (the guard is down: the rest stays queued). One
    delivery at a time (the request that made a decision and the background retry may both
    call this): the second waits, then sends only what is still pending, so each row goes once."""
    if not cfg.guard_url:
        return 0, 0
    with _DELIVERY:
        return _deliver(store, cfg, limit, timeout_s)


def _deliver(store: CaseStore, cfg: Settings, limit: int, timeout_s: float) -> tuple[int, int]:
    rows = store.query("SELECT id, account_id, verdict, analyst, note FROM guard_outbox WHERE delivered_at IS NULL "
                       "ORDER BY id LIMIT ?", (limit,))
    if not rows:
        return 0, 0
    headers = {"Authorization": f"Bearer {cfg.guard_token}"} if cfg.guard_token else {}
    ok, bad = 0, 0
    with httpx.Client(base_url=cfg.guard_url.rstrip("/"), timeout=timeout_s, headers=headers) as client:
        for oid, aid, verdict, analyst, note in rows:
            err: str | None = None
            try:
                r = client.post("/v1/feedback", json={"account_id": aid, "verdict": verdict, "analyst": analyst,
                                                      "note": note})
                if r.status_code != 200:
                    err = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as e:
                err = f"{type(e).__name__}: {e}"
            with store.tx() as db:
                if err is None:
                    db.execute("UPDATE guard_outbox SET delivered_at=?, attempts=attempts+1, error=NULL WHERE id=?",
                               (activity.now_iso(), oid))
                else:
                    db.execute("UPDATE guard_outbox SET attempts=attempts+1, error=? WHERE id=?", (err, oid))
            if err is None:
                ok += 1
            else:
                bad += 1
                break
    return ok, bad


# ---------------------------------------------------------------------------- labels
def labels(store: CaseStore) -> pa.Table:
    """Training labels from decided cases (``distillguard train --labels``): the latest decision per account."""
    rows = store.query("SELECT m.account_id, c.status, c.decision, c.id, c.updated_at, c.provider FROM case_accounts m "
                       "JOIN cases c ON c.id=m.case_id WHERE c.status IN ('confirmed', 'dismissed') "
                       "ORDER BY c.updated_at")
    latest: dict[str, tuple[Any, ...]] = {}
    for r in rows:
        latest[str(r[0])] = r
    out = sorted(latest.values(), key=lambda r: str(r[0]))
    return pa.table({
        "account_id": pa.array([str(r[0]) for r in out], pa.string()),
        "label": pa.array(["distillation" if r[1] == "confirmed" else "benign" for r in out], pa.string()),
        "decision": pa.array([str(r[2]) for r in out], pa.string()),
        "case_id": pa.array([int(r[3]) for r in out], pa.int64()),
        "decided_at": pa.array([str(r[4]) for r in out], pa.string()),
        "provider": pa.array([r[5] for r in out], pa.string()),
    })


# ---------------------------------------------------------------------------- intel
def _source_id(store: CaseStore, findings: str | Path) -> int:
    p = str(Path(findings).resolve())
    rows = store.query("SELECT id FROM sources WHERE path=?", (p,))
    if not rows:
        raise InputError("these findings were never imported into the console (distillguard console FINDINGS "
                         "--db DB imports them)", source=p)
    return int(rows[0][0])


def confirmed_campaigns(store: CaseStore, findings: str | Path) -> list[str]:
    """Campaign ids of the findings folder whose cases are confirmed (what ``intel export --cases`` shares)."""
    sid = _source_id(store, findings)
    return [str(r[0]) for r in store.query("SELECT ref FROM cases WHERE source_id=? AND kind='campaign' AND "
                                           "status='confirmed' ORDER BY id", (sid,))]


def record_share(store: CaseStore, findings: str | Path, bundle: dict[str, Any], bundle_path: str | Path,
                 campaign_stix_ids: dict[str, str], actor: str = "intel export") -> int:
    """Remember which indicators a bundle shared for which case (so a dismissal can retract them)."""
    sid = _source_id(store, findings)
    indicates: dict[str, list[str]] = {}
    for o in bundle.get("objects", []):
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates":
            indicates.setdefault(str(o["target_ref"]), []).append(str(o["source_ref"]))
    n = 0
    now = activity.now_iso()
    with store.tx() as db:
        for ref, stix_id in campaign_stix_ids.items():
            row = db.execute("SELECT id FROM cases WHERE source_id=? AND kind='campaign' AND ref=?", (sid, ref)).fetchone()
            if row is None:
                continue
            inds = sorted(set(indicates.get(stix_id, [])))
            db.executemany("INSERT OR REPLACE INTO shared (case_id, indicator_id, bundle_path, exported_at) "
                           "VALUES (?, ?, ?, ?)", [(int(row[0]), i, str(Path(bundle_path).resolve()), now) for i in inds])
            activity.append(db, actor=actor, type="share", case_id=int(row[0]),
                            reason="exported as intel", data={"bundle": str(bundle_path), "indicators": len(inds),
                                                              "campaign": stix_id})
            n += 1
    return n


def _retract(db: sqlite3.Connection, cfg: Settings, case_id: int, user: User, now: str) -> str | None:
    rows = db.execute("SELECT indicator_id, bundle_path FROM shared WHERE case_id=? AND retracted_at IS NULL",
                      (case_id,)).fetchall()
    if not rows:
        return None
    from distillguard.intel.stix import revoke

    still = {str(r[0]) for r in db.execute(
        "SELECT s.indicator_id FROM shared s JOIN cases c ON c.id=s.case_id WHERE c.status='confirmed' "
        "AND s.case_id<>? AND s.retracted_at IS NULL", (case_id,))}
    bundles: dict[str, dict[str, Any]] = {}
    revoked, head = [], {}
    for iid, path in rows:
        if iid in still:
            continue
        if path not in bundles:
            try:
                bundles[path] = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise ActionError(f"the shared bundle for case #{case_id} cannot be read to retract it: {e}") from e
        objs = bundles[path].get("objects", [])
        ind = next((o for o in objs if o.get("id") == iid), None)
        if ind is None:
            continue
        for o in objs:
            if o.get("type") in ("marking-definition", "extension-definition", "identity"):
                head[o["id"]] = o
        revoked.append(revoke({k: v for k, v in ind.items() if k != "x_distillguard_signature"}))
    db.execute("UPDATE shared SET retracted_at=? WHERE case_id=?", (now, case_id))
    if not revoked:
        return None
    folder = cfg.retractions_dir or Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"retraction-case-{case_id}-{uuid.uuid4().hex[:8]}.json"
    out.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                               "objects": list(head.values()) + revoked}, indent=1))
    activity.append(db, actor=user.name, role=user.role, type="retract", case_id=case_id,
                    reason="the shared case was dismissed: its indicators are revoked",
                    data={"bundle": str(out), "indicators": [o["id"] for o in revoked]}, ts=now)
    return str(out)
