"""Users, roles, sessions and CSRF for the console.

* **Roles.** ``analyst`` triages (assign, note, escalate, record an appeal, preview batches);
  ``reviewer`` also decides (confirm, dismiss, allowlist, reopen, batch apply and undo);
  ``compliance`` reads everything, the activity log included, and changes nothing.
* **Passwords** are hashed with Argon2id (argon2-cffi). There is no default user or password:
  ``distillguard console user add`` creates each one, reading the password from a prompt,
  ``$DISTILLGUARD_CONSOLE_PASSWORD`` or stdin.
* **Sessions** are random 256-bit tokens in an HttpOnly, SameSite=Strict cookie; the store
  keeps only their SHA-256, so a copy of the database does not hand out live sessions.
* **CSRF.** Each session has its own random token; every form carries it and every POST is
  refused without the matching one (SameSite=Strict is the second line, not the only one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from functools import lru_cache
from typing import Any

from distillguard.console.store import ROLES, CaseStore
from distillguard.errors import InputError

MIN_PASSWORD = 12
EXTRA_HINT = "the console needs its extra: pip install 'distillguard[console]'"


@lru_cache(maxsize=1)
def _argon2() -> tuple[Any, str]:
    """The Argon2id hasher and a dummy hash (verifying against it when the user does not exist
    keeps the timing of "no such user" and "wrong password" alike). Imported on first use, so
    the case store, labels and ``intel export --cases`` work without the console extra."""
    try:
        from argon2 import PasswordHasher
    except ImportError as e:  # pragma: no cover - the test extra installs it
        raise InputError(EXTRA_HINT) from e
    h = PasswordHasher()
    return h, h.hash("distillguard-console-dummy-password")

DECIDE = ("reviewer",)
TRIAGE = ("analyst", "reviewer")
AUDIT = ("reviewer", "compliance")


@dataclass(frozen=True)
class User:
    name: str
    role: str


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: CaseStore, name: str, role: str, password: str) -> User:
    """Create (or reset the password and role of) a user."""
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise InputError("user names are 1-64 letters, digits or . _ - @")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
    with store.tx() as db:
        db.execute("INSERT INTO users (name, role, pw_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO "
                   "UPDATE SET role=excluded.role, pw_hash=excluded.pw_hash, disabled=0",
                   (name, role, _argon2()[0].hash(password), datetime.now(timezone.utc).isoformat()))
        db.execute("DELETE FROM sessions WHERE user=?", (name,))
    return User(name, role)


def users(store: CaseStore) -> list[tuple[str, str, bool]]:
    return [(str(n), str(r), bool(d)) for n, r, d in store.query("SELECT name, role, disabled FROM users ORDER BY name")]


def authenticate(store: CaseStore, name: str, password: str) -> User | None:
    """The user if the password is right (Argon2 verify), else None."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher, dummy = _argon2()
    rows = store.query("SELECT name, role, pw_hash FROM users WHERE name=? AND disabled=0", (name,))
    if not rows:
        try:
            hasher.verify(dummy, password + "x")
        except VerificationError:
            pass
        return None
    n, role, h = rows[0]
    try:
        hasher.verify(h, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(str(n), str(role))


def open_session(store: CaseStore, user: User, hours: float) -> str:
    """A new session for ``user``; returns the cookie token (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    with store.tx() as db:
        db.execute("DELETE FROM sessions WHERE expires_at < ?", (now.isoformat(),))
        db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                   (_digest(token), user.name, secrets.token_urlsafe(32), now.isoformat(),
                    (now + timedelta(hours=hours)).isoformat()))
    return token


def session(store: CaseStore, token: str | None) -> Session | None:
    """The live session for a cookie token, or None (unknown, expired, or the user was disabled)."""
    if not token or len(token) > 200:
        return None
    rows = store.query("SELECT u.name, u.role, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.name=s.user "
                       "WHERE s.token_hash=? AND u.disabled=0", (_digest(token),))
    if not rows:
        return None
    name, role, csrf, exp = rows[0]
    if datetime.fromisoformat(exp) < datetime.now(timezone.utc):
        return None
    return Session(User(str(name), str(role)), str(csrf))


def close_session(store: CaseStore, token: str | None) -> None:
    if token:
        with store.tx() as db:
            db.execute("DELETE FROM sessions WHERE token_hash=?", (_digest(token),))


def secrets_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (False when either is empty)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def csrf_ok(s: Session, given: str | None) -> bool:
    """The form's CSRF token matches the session's."""
    return secrets_equal(s.csrf, str(given or ""))
