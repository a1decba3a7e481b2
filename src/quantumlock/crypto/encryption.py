"""Encrypt and decrypt for the API: the cached key on the event loop, else the keystore.

A KMS answers encrypt/decrypt without a database read and an unseal per call. A symmetric
key opened once is kept in the key-material cache (crypto.cache); while it is there, and
the payload is small, encryption needs no database session and no worker thread (except,
for the IV, when the entropy source is busy); decryption needs neither. Everything else
(a key not cached, a new key, a large payload, an invocation block to reserve, and every
error: unknown key, wrong algorithm, another tenant's id) takes `CryptoService` in a worker
thread, which also puts the opened key in the cache for the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from anyio import to_thread
from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.errors import DecryptionFailed
from quantumlock.crypto import algorithms as alg
from quantumlock.crypto.cache import CachedKey, KeyMaterialCache
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.crypto.operations import CryptoService, Decrypted, Encrypted
from quantumlock.entropy.service import EntropyService
from quantumlock.keyring.sealing import Sealer

__all__ = ["FAST_PATH_MAX_BYTES", "Decrypted", "Encrypted", "Encryptor"]

# Larger payloads take the worker-thread path: AEAD over a megabyte holds the event loop.
FAST_PATH_MAX_BYTES = 64 * 1024


class Encryptor:
    def __init__(
        self,
        cache: KeyMaterialCache,
        invocations: InvocationBudget,
        entropy: EntropyService,
        sessions: Callable[[], AbstractContextManager[Session]],
        sealer: Sealer,
        keygen: RsaKeygen | None = None,
    ) -> None:
        """`invocations`: the process's AEAD budget; `sessions` opens the session the
        keystore path works in (in its worker thread)."""
        self.cache = cache
        self.invocations = invocations
        self._entropy = entropy
        self.sessions = sessions
        self._sealer = sealer
        self._keygen = keygen

    async def encrypt(
        self,
        caller: Actor,
        plaintext: bytes,
        *,
        key_id: str | None,
        algorithm: str | None,
        aad: bytes | None,
    ) -> Encrypted:
        """`algorithm` None: the key's own, or AES-256-GCM for a new key (`key_id` None)."""
        key = None
        if key_id is not None:
            key = self._cached_for_encryption(caller, plaintext, key_id, algorithm)
        if key is not None:
            # A cached key needs no database, even when the IV must wait for a thread: a
            # source busy with another thread's draw is no reason to open a session for a
            # key in hand. (It was: each such request then held a thread and a connection
            # and kept the source busy for the next; after every key-cache expiry, encrypt
            # on PostgreSQL fell to 0.1-0.3x the baseline for seconds.)
            iv = (await self._entropy.draw_async(alg.IV_BYTES)).data
            ciphertext, tag = alg.aead_encrypt(key.algorithm, key.material, iv, plaintext, aad)
            return Encrypted(key, ciphertext, iv, tag)
        return await to_thread.run_sync(
            self._encrypt_stored, caller, plaintext, key_id, algorithm, aad
        )

    async def decrypt(
        self,
        caller: Actor,
        ciphertext: bytes,
        *,
        key_id: str,
        iv: bytes,
        tag: bytes,
        aad: bytes | None,
        algorithm: str | None,
    ) -> Decrypted:
        """A wrong key, tag, iv, aad or ciphertext: DecryptionFailed (one answer for all)."""
        if len(ciphertext) <= FAST_PATH_MAX_BYTES:
            key = self._cached(caller, key_id, algorithm)
            if key is not None:
                plaintext = alg.aead_decrypt(key.algorithm, key.material, iv, ciphertext, tag, aad)
                if plaintext is None:
                    raise DecryptionFailed()
                return Decrypted(key, plaintext)
        return await to_thread.run_sync(
            self._decrypt_stored, caller, ciphertext, key_id, iv, tag, aad, algorithm
        )

    def _cached(self, caller: Actor, key_id: str, algorithm: str | None) -> CachedKey | None:
        """The cached key if it suits `algorithm`; None sends the caller to the keystore
        path, which also produces every error."""
        key = self.cache.get((caller.account_id, caller.mode, key_id))
        if key is None or (algorithm is not None and algorithm != key.algorithm):
            return None
        return key

    def _cached_for_encryption(
        self, caller: Actor, plaintext: bytes, key_id: str, algorithm: str | None
    ) -> CachedKey | None:
        """The cached key, if the fast path may use it: it also needs an invocation this
        process already reserved (no database); when none is left, the keystore path
        reserves the next block (or answers 409 at the limit)."""
        if len(plaintext) > FAST_PATH_MAX_BYTES:
            return None
        key = self._cached(caller, key_id, algorithm)
        if key is None or not self.invocations.take(key.id):
            return None
        return key

    def _service(self, session: Session) -> CryptoService:
        return CryptoService(
            session, self._sealer, self._entropy, self.cache, self._keygen, self.invocations
        )

    def _encrypt_stored(
        self,
        caller: Actor,
        plaintext: bytes,
        key_id: str | None,
        algorithm: str | None,
        aad: bytes | None,
    ) -> Encrypted:
        with self.sessions() as session:
            return self._service(session).encrypt(
                caller, plaintext, key_id=key_id, algorithm=algorithm, aad=aad
            )

    def _decrypt_stored(
        self,
        caller: Actor,
        ciphertext: bytes,
        key_id: str,
        iv: bytes,
        tag: bytes,
        aad: bytes | None,
        algorithm: str | None,
    ) -> Decrypted:
        with self.sessions() as session:
            return self._service(session).decrypt(
                caller, ciphertext, key_id=key_id, iv=iv, tag=tag, aad=aad, algorithm=algorithm
            )
