"""Password hashing: Argon2id (argon2-cffi), parameters from RFC 9106's second recommended
set, so a hash made today can be verified (and upgraded) by a later release."""

from __future__ import annotations

import functools
import gzip
from importlib import resources

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


# -- the strength floor -----------------------------------------------------------------------

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes any length; this only bounds the work one request can ask for

# The 10,000 most common passwords, lower-cased: the first half of the 20,000-entry list Royce
# Williams compiled from breach corpora, as Django ships it
# (django/contrib/auth/common-passwords.txt.gz, BSD licence; see
# https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce). Local on purpose:
# no password, nor a hash prefix of one, ever leaves the server.
_COMMON_FILE = "data/common-passwords.txt.gz"


@functools.cache
def _common_passwords() -> frozenset[str]:
    raw = resources.files("quantumlock.identity").joinpath(_COMMON_FILE).read_bytes()
    return frozenset(gzip.decompress(raw).decode().split())


def is_common(password: str) -> bool:
    return password.strip().lower() in _common_passwords()


def _classes(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why `password` is refused (a sentence for the user), or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters long."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters long."
    if _classes(password) < 2:
        return "Password must mix at least two kinds of characters (letters, digits, symbols)."
    local = (email or "").partition("@")[0].strip().lower()
    if len(local) >= 3 and local in password.lower():
        return "Password must not contain your email address."
    if is_common(password):
        return "Password is too common: it appears in lists of breached passwords."
    return None
