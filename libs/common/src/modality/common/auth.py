"""API keys, admin tokens and HS256 service tokens.

API keys are ``mod_`` + 32 random url-safe characters. Only their SHA-256 digest and a
short display prefix are stored: the key carries ~190 bits of entropy, so an unsalted
fast hash is safe and lets every replica look a key up by digest in one round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

API_KEY_PREFIX = "mod_"
_KEY_RE = re.compile(r"^mod_[A-Za-z0-9_-]{32}$")
DISPLAY_PREFIX_LEN = 8


@dataclass(frozen=True, slots=True)
class NewApiKey:
    secret: str
    key_hash: str
    display_prefix: str


def generate_api_key() -> NewApiKey:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(24)  # 24 bytes -> 32 chars
    return NewApiKey(secret, hash_api_key(secret), secret[:DISPLAY_PREFIX_LEN])


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_well_formed_api_key(secret: str) -> bool:
    return _KEY_RE.match(secret) is not None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- HS256 JWTs between services ---------------------------------------------------------

JWT_ALGORITHM = "HS256"


def issue_service_token(secret: str, subject: str, ttl_s: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "iat": now, "exp": now + ttl_s}, secret, JWT_ALGORITHM)


def verify_service_token(secret: str, token: str, leeway_s: int = 5) -> dict[str, Any]:
    """Decode and check signature, ``exp``, ``iat`` and ``sub``; raise ``jwt.InvalidTokenError``."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=[JWT_ALGORITHM],
        options={"require": ["sub", "iat", "exp"]},
        leeway=leeway_s,
    )
    if claims["iat"] > time.time() + leeway_s:
        raise jwt.ImmatureSignatureError("token issued in the future")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise jwt.InvalidTokenError("sub must be a non-empty string")
    return claims
