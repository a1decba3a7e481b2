"""Identifiers and base62 helpers."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def encode_base62(number: int, width: int) -> str:
    """Fixed-width base62 (zero-padded) so checksums always have the same length."""
    if number < 0:
        raise ValueError("negative")
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    out = "".join(reversed(chars)).rjust(width, "0")
    if len(out) > width:
        raise ValueError("number too large for width")
    return out


def is_base62(text: str) -> bool:
    # Base62 is exactly ASCII letters and digits; the str methods are C loops.
    return text.isascii() and text.isalnum()


def new_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}_{random_base62(length)}"
