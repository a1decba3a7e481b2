"""Envelope encryption of secrets at rest under the master key.

Each sealed value gets its own random data key (AES-256-GCM); the data key is wrapped
with a key-encryption key derived from the master key. Rotating the master key therefore
re-wraps 48-byte data keys, never the data. The associated data binds a blob to its row
(e.g. the account id), so a blob copied to another row does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
_NONCE = 12
_WRAPPED = 32 + 16


class SealingError(Exception):
    pass


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        kek = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"quantumlock/sealing-kek/v1"
        ).derive(master_key)
        self._kek = AESGCM(kek)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped = self._kek.encrypt(wrap_nonce, data_key, VERSION + aad)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, VERSION + aad)
        return VERSION + wrap_nonce + wrapped + nonce + ciphertext

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if not blob.startswith(VERSION) or len(blob) < 1 + 2 * _NONCE + _WRAPPED + 16:
            raise SealingError("unknown or truncated sealed blob")
        wrap_nonce = blob[1 : 1 + _NONCE]
        wrapped = blob[1 + _NONCE : 1 + _NONCE + _WRAPPED]
        rest = blob[1 + _NONCE + _WRAPPED :]
        nonce, ciphertext = rest[:_NONCE], rest[_NONCE:]
        try:
            data_key = self._kek.decrypt(wrap_nonce, wrapped, VERSION + aad)
            return AESGCM(data_key).decrypt(nonce, ciphertext, VERSION + aad)
        except InvalidTag:
            raise SealingError("sealed blob does not open under this master key") from None
