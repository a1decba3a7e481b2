"""Password hashing: Argon2id (argon2-cffi), parameters from RFC 9106's second recommended
set, so a hash made today can be verified (and upgraded) by a later release."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (argon2-cffi's RFC 9106 low-memory)

# Verified against when there is no user, so an unknown address takes as long as a wrong
# password (no account enumeration by timing).
_DUMMY = _HASHER.hash("quantumlock-no-such-user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches `stored`; with `stored` None, spends the same time and
    answers False."""
    try:
        return _HASHER.verify(stored if stored is not None else _DUMMY, password) and (
            stored is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
