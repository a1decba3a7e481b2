"""The API-key format: ``<prefix><32 base62 random><6 base62 CRC32 checksum>``.

The checksum lets the server (and secret scanners) reject a mistyped key without a
database lookup. Keys are stored only as HMAC-SHA-256 under a pepper derived from the
master key, so a stolen database alone does not let anyone test guesses offline.
"""

from __future__ import annotations

import hmac
import zlib
from enum import StrEnum

from quantumlock.core.ids import encode_base62, is_base62, random_base62

RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
DISPLAY_CHARS = 4


class KeyType(StrEnum):
    LIVE = "live"
    TEST = "test"
    RESTRICTED = "restricted"


class Mode(StrEnum):
    LIVE = "live"
    TEST = "test"


PREFIXES: dict[KeyType, str] = {
    KeyType.LIVE: "qcos_live_",
    KeyType.TEST: "qcos_test_",
    KeyType.RESTRICTED: "qcos_rkey_",
}
_BY_PREFIX = {prefix: key_type for key_type, prefix in PREFIXES.items()}
KEY_LENGTH = len("qcos_live_") + RANDOM_LENGTH + CHECKSUM_LENGTH


def _checksum(body: str) -> str:
    return encode_base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate_key(key_type: KeyType) -> str:
    body = PREFIXES[key_type] + random_base62(RANDOM_LENGTH)
    return body + _checksum(body)


def key_type_of(key: str) -> KeyType | None:
    """The key's type if it is well formed (prefix, alphabet, length, checksum), else None."""
    if len(key) != KEY_LENGTH:
        return None
    key_type = _BY_PREFIX.get(key[:10])
    if key_type is None:
        return None
    rest = key[10:]
    if not is_base62(rest):
        return None
    body, check = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), check):
        return None
    return key_type


def display_prefix(key: str) -> str:
    """What lists show: the type prefix and a few characters, never enough to use."""
    return key[: 10 + DISPLAY_CHARS] + "..."
