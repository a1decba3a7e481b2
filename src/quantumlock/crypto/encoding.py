"""Strict decoding of the API's binary fields: standard base64 with padding, and hex nonces."""

from __future__ import annotations

import base64
import binascii
import re

from quantumlock.core.errors import ValidationFailed

_HEX_NONCE = re.compile(r"[0-9a-fA-F]{32}")


def b64_chars(max_bytes: int) -> int:
    """The longest base64 text that can decode to `max_bytes`."""
    return 4 * -(-max_bytes // 3)


def decode_b64(value: str, field: str, *, max_bytes: int, exact: int | None = None) -> bytes:
    """Standard base64 (no whitespace, correct padding) or a 400 naming the field."""
    if len(value) > b64_chars(max_bytes):
        raise ValidationFailed(f"{field} is larger than {max_bytes} bytes.", field=field)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{field} is not valid base64.", field=field) from None
    if len(data) > max_bytes:
        raise ValidationFailed(f"{field} is larger than {max_bytes} bytes.", field=field)
    if exact is not None and len(data) != exact:
        raise ValidationFailed(f"{field} must be {exact} bytes, not {len(data)}.", field=field)
    return data


def encode_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_nonce(value: str, field: str = "quantum_nonce") -> bytes:
    if not _HEX_NONCE.fullmatch(value):
        raise ValidationFailed(f"{field} must be 32 hexadecimal characters.", field=field)
    return bytes.fromhex(value)
