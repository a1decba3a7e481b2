"""Client secrets and other bearer secrets of this domain.

A client secret is ``secret_<40 base62><6 base62 CRC32 checksum>``, checksummed like an API
key (quantumlock.auth.keys) so a typo is refused without a lookup and secret scanners can
find it. Session tokens and one-time links are random URL-safe strings. All are stored only
as keyed hashes (`quantumlock.keyring.hasher.KeyHasher.digest`).
"""

from __future__ import annotations

import hmac
import secrets
import zlib

from quantumlock.core.ids import encode_base62, is_base62, random_base62

CLIENT_SECRET_PREFIX = "secret_"  # noqa: S105 - a prefix, not a secret
_RANDOM = 40
_CHECK = 6
CLIENT_SECRET_LENGTH = len(CLIENT_SECRET_PREFIX) + _RANDOM + _CHECK


def _checksum(body: str) -> str:
    return encode_base62(zlib.crc32(body.encode()), _CHECK)


def generate_client_secret() -> str:
    body = CLIENT_SECRET_PREFIX + random_base62(_RANDOM)
    return body + _checksum(body)


def is_client_secret(value: str) -> bool:
    """Well formed: prefix, alphabet, length and checksum."""
    if len(value) != CLIENT_SECRET_LENGTH or not value.startswith(CLIENT_SECRET_PREFIX):
        return False
    if not is_base62(value[len(CLIENT_SECRET_PREFIX) :]):
        return False
    return hmac.compare_digest(_checksum(value[:-_CHECK]), value[-_CHECK:])


def display_prefix(secret: str) -> str:
    return secret[: len(CLIENT_SECRET_PREFIX) + 4] + "..."


def generate_token(nbytes: int = 32) -> str:
    """A random opaque token (session cookie, one-time link, code, refresh token)."""
    return secrets.token_urlsafe(nbytes)
