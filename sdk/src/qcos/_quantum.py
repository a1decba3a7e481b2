"""`client.quantum`: entropy, the keystore and crypto operations (/api/v1/quantum).

Binary values go in and come out as `bytes`; the SDK does the base64 of the wire.
"""

from __future__ import annotations

from qcos import _quantum_operations as ops
from qcos._quantum_models import (
    Encrypted,
    Entropy,
    KeyExchange,
    QuantumHealth,
    QuantumKey,
    QuantumKeyList,
    Signature,
)
from qcos._resources import _AsyncResource, _SyncResource


class Quantum(_SyncResource):
    """`client.quantum` (scopes `quantum:entropy`, `quantum:keys`, `quantum:crypto`)."""

    def health(self) -> QuantumHealth:
        return self._client._run(ops.health())

    def entropy(self, bits: int = 256, encoding: str = "hex", source: str | None = None) -> Entropy:
        """A forced `source` that is unavailable raises QuantumUnavailableError (503)."""
        return self._client._run(ops.entropy(bits, encoding, source))

    def create_key(
        self,
        algorithm: str,
        *,
        exportable: bool = False,
        source: str | None = None,
        key: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        """`key` holds the raw material only when `exportable` — and only in this answer.

        Passing `key` imports your own material (the export format) instead of drawing it.
        """
        return self._client._run(
            ops.create_key(algorithm, exportable, source, key), idempotency_key=idempotency_key
        )

    def rsa(
        self,
        bits: int = 3072,
        *,
        exportable: bool = False,
        source: str | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        """An RSA key pair; `key` is PKCS#8 DER when `exportable`."""
        return self._client._run(ops.rsa(bits, exportable, source), idempotency_key=idempotency_key)

    def list_keys(self, skip: int = 0, limit: int = 100) -> QuantumKeyList:
        return self._client._run(ops.list_keys(skip, limit))

    def get_key(self, key_id: str) -> QuantumKey:
        return self._client._run(ops.get_key(key_id))

    def delete_key(self, key_id: str) -> None:
        """Destroys the material; the id is NotFound afterwards."""
        self._client._run(ops.delete_key(key_id))

    def encrypt(
        self,
        plaintext: bytes,
        *,
        key_id: str | None = None,
        algorithm: str | None = None,
        aad: bytes | None = None,
    ) -> Encrypted:
        """Without `key_id` a new key of `algorithm` (default AES-256-GCM) is created;
        with `key_id` and no `algorithm` the key's own algorithm is used."""
        return self._client._run(ops.encrypt(plaintext, key_id, algorithm, aad))

    def decrypt(
        self,
        encrypted: Encrypted | None = None,
        *,
        ciphertext: bytes | None = None,
        iv: bytes | None = None,
        tag: bytes | None = None,
        key_id: str | None = None,
        aad: bytes | None = None,
        algorithm: str | None = None,
    ) -> bytes:
        """Anything altered raises DecryptionError (one message for every cause)."""
        return self._client._run(
            ops.decrypt(
                encrypted,
                ciphertext=ciphertext,
                iv=iv,
                tag=tag,
                key_id=key_id,
                aad=aad,
                algorithm=algorithm,
            )
        )

    def sign(
        self,
        message: bytes,
        *,
        key_id: str | None = None,
        algorithm: str | None = None,
        idempotency_key: str | None = None,
    ) -> Signature:
        """Without `key_id` a new signing key of `algorithm` (default Ed25519) is created;
        with `key_id` and no `algorithm` the key's own algorithm is used (SHA3-512-RSA for
        an RSA key)."""
        return self._client._run(
            ops.sign(message, key_id, algorithm), idempotency_key=idempotency_key
        )

    def verify(
        self,
        message: bytes,
        signature: bytes | Signature,
        *,
        quantum_nonce: str | None = None,
        algorithm: str | None = None,
        key_id: str | None = None,
        public_key: str | None = None,
        context: bytes | None = None,
    ) -> bool:
        """A wrong signature is False, not an exception. A `Signature` carries the rest.

        Without `quantum_nonce` the message is checked as-is (a signature made elsewhere);
        a signature from `sign` always needs its nonce. `context` is the FIPS 204 context
        of an ML-DSA-65 signature made elsewhere (absent = empty).
        """
        return self._client._run(
            ops.verify(
                message,
                signature,
                quantum_nonce=quantum_nonce,
                algorithm=algorithm,
                key_id=key_id,
                public_key=public_key,
                context=context,
            )
        )

    def key_exchange(
        self,
        peer_public_key: bytes | None = None,
        *,
        session_id: str | None = None,
        key_bits: int = 256,
        algorithm: str = "X25519",
        idempotency_key: str | None = None,
    ) -> KeyExchange:
        """A starts with no arguments; B answers with A's `public_key`; A completes with
        its `session_id` and B's `public_key`. A session completes once (ConflictError)."""
        return self._client._run(
            ops.key_exchange(peer_public_key, session_id, key_bits, algorithm),
            idempotency_key=idempotency_key,
        )


class AsyncQuantum(_AsyncResource):
    """`async_client.quantum`: the awaitable twin of `Quantum`."""

    async def health(self) -> QuantumHealth:
        return await self._client._run(ops.health())

    async def entropy(
        self, bits: int = 256, encoding: str = "hex", source: str | None = None
    ) -> Entropy:
        return await self._client._run(ops.entropy(bits, encoding, source))

    async def create_key(
        self,
        algorithm: str,
        *,
        exportable: bool = False,
        source: str | None = None,
        key: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        return await self._client._run(
            ops.create_key(algorithm, exportable, source, key), idempotency_key=idempotency_key
        )

    async def rsa(
        self,
        bits: int = 3072,
        *,
        exportable: bool = False,
        source: str | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        return await self._client._run(
            ops.rsa(bits, exportable, source), idempotency_key=idempotency_key
        )

    async def list_keys(self, skip: int = 0, limit: int = 100) -> QuantumKeyList:
        return await self._client._run(ops.list_keys(skip, limit))

    async def get_key(self, key_id: str) -> QuantumKey:
        return await self._client._run(ops.get_key(key_id))

    async def delete_key(self, key_id: str) -> None:
        await self._client._run(ops.delete_key(key_id))

    async def encrypt(
        self,
        plaintext: bytes,
        *,
        key_id: str | None = None,
        algorithm: str | None = None,
        aad: bytes | None = None,
    ) -> Encrypted:
        return await self._client._run(ops.encrypt(plaintext, key_id, algorithm, aad))

    async def decrypt(
        self,
        encrypted: Encrypted | None = None,
        *,
        ciphertext: bytes | None = None,
        iv: bytes | None = None,
        tag: bytes | None = None,
        key_id: str | None = None,
        aad: bytes | None = None,
        algorithm: str | None = None,
    ) -> bytes:
        return await self._client._run(
            ops.decrypt(
                encrypted,
                ciphertext=ciphertext,
                iv=iv,
                tag=tag,
                key_id=key_id,
                aad=aad,
                algorithm=algorithm,
            )
        )

    async def sign(
        self,
        message: bytes,
        *,
        key_id: str | None = None,
        algorithm: str | None = None,
        idempotency_key: str | None = None,
    ) -> Signature:
        return await self._client._run(
            ops.sign(message, key_id, algorithm), idempotency_key=idempotency_key
        )

    async def verify(
        self,
        message: bytes,
        signature: bytes | Signature,
        *,
        quantum_nonce: str | None = None,
        algorithm: str | None = None,
        key_id: str | None = None,
        public_key: str | None = None,
        context: bytes | None = None,
    ) -> bool:
        return await self._client._run(
            ops.verify(
                message,
                signature,
                quantum_nonce=quantum_nonce,
                algorithm=algorithm,
                key_id=key_id,
                public_key=public_key,
                context=context,
            )
        )

    async def key_exchange(
        self,
        peer_public_key: bytes | None = None,
        *,
        session_id: str | None = None,
        key_bits: int = 256,
        algorithm: str = "X25519",
        idempotency_key: str | None = None,
    ) -> KeyExchange:
        return await self._client._run(
            ops.key_exchange(peer_public_key, session_id, key_bits, algorithm),
            idempotency_key=idempotency_key,
        )
