"""Accounts: argon2 password hashes, server-side sessions, CSRF secrets, sign-in rate limits.

A session is a random token in an HttpOnly cookie; the store keeps only its SHA-256, with
the user and a per-session CSRF secret that every form and state-changing request must echo
(the synchronizer-token pattern). Unsubscribe links in digests are signed with the app's
secret key instead, so they work without a session.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from paperfeed.errors import InputError
from paperfeed.models import User
from paperfeed.signing import hash_token
from paperfeed.store import Store

SESSION_DAYS = 30
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps sign-in time the same either way.
_DUMMY_HASH = _hasher.hash("paperfeed-no-such-user")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sign_up(store: Store, name: str, email: str, password: str) -> User:
    """A new account; InputError names what is wrong with the form."""
    name, email = name.strip(), email.strip()
    if not _NAME.match(name):
        raise InputError("a user name is 2–32 letters, digits, '.', '_' or '-'")
    if not _EMAIL.match(email):
        raise InputError("that does not look like an email address")
    if len(password) < 8:
        raise InputError("a password needs at least 8 characters")
    password_hash = _hasher.hash(password)
    with store.writer() as w:
        user_id = w.create_user(name, email, password_hash)
    return User(user_id, name, email, password_hash)


def check_password(store: Store, name_or_email: str, password: str) -> User | None:
    user = store.user(name_or_email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def start_session(store: Store, user: User) -> str:
    """A new session for ``user``; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=SESSION_DAYS)
    with store.writer() as w:
        w.start_session(
            hash_token(token), user.id, secrets.token_urlsafe(24), expires.isoformat("T", "seconds")
        )
    return token


def end_session(store: Store, token: str) -> None:
    with store.writer() as w:
        w.end_session(hash_token(token))


class RateLimiter:
    """At most ``limit`` attempts per key in a sliding window of ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True
