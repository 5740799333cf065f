"""Bearer tokens for a server started with ``--auth-secret``."""

from __future__ import annotations

import re
import time

#: HS256 keys shorter than the hash (32 bytes) are open to brute force (RFC 7518, 3.2).
MIN_SECRET_BYTES = 32
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TokenError(ValueError):
    """A secret or lifetime that would make an unsafe token."""


def check_secret(secret: str) -> str:
    """``secret`` when it is long enough for HS256, else TokenError saying why."""
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise TokenError(
            f"the secret has {size} bytes; HS256 needs at least {MIN_SECRET_BYTES} "
            "(a shorter one can be guessed). Make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret


def parse_ttl(text: str) -> int:
    """Seconds of a lifetime such as ``90``, ``30s``, ``15m``, ``1h`` or ``7d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if match is None or int(match[1]) == 0:
        raise TokenError(f"--ttl must be a positive number with s, m, h or d, got {text!r}")
    return int(match[1]) * _UNITS[match[2] or "s"]


def make_token(secret: str, user: str, ttl: int | None, now: float | None = None) -> str:
    """An HS256 JWT for ``user``; it expires after ``ttl`` seconds (never when None)."""
    import jwt  # here: only the token command needs it

    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": user, "iat": issued}
    if ttl is not None:
        claims["exp"] = issued + ttl
    return jwt.encode(claims, check_secret(secret), algorithm="HS256")
