"""API keys exist only as HMAC-SHA-256 under a pepper derived from the master key (ARCHITECTURE
§4): part of the keyring, so the runtime builds it without knowing the auth domain."""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class KeyHasher:
    def __init__(self, master_key: bytes) -> None:
        self._pepper = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"quantumlock/api-key-pepper/v1"
        ).derive(master_key)

    @classmethod
    def from_pepper(cls, pepper: bytes) -> KeyHasher:
        """A hasher from the derived pepper itself (what a rotated keyring records)."""
        hasher = cls.__new__(cls)
        hasher._pepper = pepper
        return hasher

    def digest(self, key: str) -> bytes:
        return hmac.digest(self._pepper, key.encode(), "sha256")
