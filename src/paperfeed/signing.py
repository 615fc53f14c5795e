"""Tokens and signatures: what proves a link or a form came from this instance.

Everything here compares in constant time and takes any text a request carries, ASCII or
not, without failing (a forged value is simply not equal).
"""

from __future__ import annotations

import hashlib
import hmac


def hash_token(token: str) -> str:
    """What the store keeps of a session or feed token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    """Whether ``given`` is ``expected`` (a CSRF secret), in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def sign(secret: str, message: str) -> str:
    """An HMAC that proves the app made ``message`` (unsubscribe and feedback links)."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def signature_ok(secret: str, message: str, signature: str) -> bool:
    return tokens_match(sign(secret, message), signature)
