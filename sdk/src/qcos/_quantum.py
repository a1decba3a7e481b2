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
from qcos._resources import _AsyncResource, _SyncResource, share_docs
from qcos._types import (
    Cipher,
    EntropyEncoding,
    EntropySource,
    KeyAlgorithm,
    KeyExchangeAlgorithm,
    RsaBits,
    SignatureAlgorithm,
)


class Quantum(_SyncResource):
    """`client.quantum` (scopes `quantum:entropy`, `quantum:keys`, `quantum:crypto`)."""

    def health(self) -> QuantumHealth:
        """Each entropy source's state and health-test results.

        Raises:
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.health())

    def entropy(
        self,
        bits: int | None = None,
        encoding: EntropyEncoding | None = None,
        source: EntropySource | None = None,
    ) -> Entropy:
        """`bits` of health-tested, conditioned entropy; `source` None lets the server fall
        back in order (and say which source it used). Left out, `bits` and `encoding` are
        the server's defaults (256, "hex").

        Raises:
            QuantumUnavailableError: the forced `source` is unavailable (503).
            ValidationError: `bits` out of range (400).
            PermissionDeniedError: the key lacks `quantum:entropy` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.entropy(bits, encoding, source))

    def create_key(
        self,
        algorithm: KeyAlgorithm,
        *,
        exportable: bool | None = None,
        source: EntropySource | None = None,
        key: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        """`key` holds the raw material only when `exportable` — and only in this answer.

        Passing `key` imports your own material (the export format) instead of drawing it.

        Raises:
            ValidationError: wrong key length, or `source` with `key` (400).
            QuantumUnavailableError: the forced `source` is unavailable (503).
            PermissionDeniedError: the key lacks `quantum:keys` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.create_key(algorithm, exportable, source, key), idempotency_key=idempotency_key
        )

    def rsa(
        self,
        bits: RsaBits | None = None,
        *,
        exportable: bool | None = None,
        source: EntropySource | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        """An RSA key pair from quantum-seeded primes (seconds of CPU on the server; `bits`
        left out: the server's 3072); `key` is PKCS#8 DER when `exportable`.

        Raises:
            RateLimitError: too many RSA keys in the making for this account (429).
            QuantumUnavailableError: the forced `source` is unavailable (503).
            PermissionDeniedError: the key lacks `quantum:keys` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.rsa(bits, exportable, source), idempotency_key=idempotency_key)

    def list_keys(self, skip: int | None = None, limit: int | None = None) -> QuantumKeyList:
        """One page of keystore keys, newest first (never material). `default_for` marks
        the keys that encrypt/sign without `key_id` use.

        Raises:
            ValidationError: `skip` or `limit` out of range (400).
            PermissionDeniedError: the key lacks `quantum:keys` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.list_keys(skip, limit))

    def get_key(self, key_id: str) -> QuantumKey:
        """One keystore key (never its material).

        Raises:
            NotFoundError: no such key in this account and mode, or destroyed (404).
            PermissionDeniedError: the key lacks `quantum:keys` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.get_key(key_id))

    def delete_key(self, key_id: str) -> None:
        """Destroys the material; the id is NotFound afterwards. Destroying a default key
        makes the next encrypt/sign without `key_id` create a new one.

        Raises:
            NotFoundError: no such key in this account and mode (404).
            PermissionDeniedError: the key lacks `quantum:keys` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        self._client._run(ops.delete_key(key_id))

    def encrypt(
        self,
        plaintext: bytes,
        *,
        key_id: str | None = None,
        algorithm: Cipher | None = None,
        aad: bytes | None = None,
    ) -> Encrypted:
        """Encrypt with a keystore key. Without `key_id`: the account's default key for
        `algorithm` (AES-256-GCM if not given), made by the first such call and reused
        after; with `key_id` and no `algorithm`, the key's own algorithm.

        Raises:
            ValidationError: not an encryption key, or not of `algorithm` (400).
            NotFoundError: no such key in this account and mode (404).
            ConflictError: the key has reached its AEAD invocation limit (409).
            PermissionDeniedError: the key lacks `quantum:crypto` (403).
            QuantumUnavailableError: no entropy source can deliver the IV (503).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
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
        algorithm: Cipher | None = None,
    ) -> bytes:
        """Decrypt what `encrypt` returned (pass the `Encrypted`, or its parts).

        Raises:
            DecryptionError: a wrong key, iv, tag, aad or ciphertext (400; one message
                for every cause).
            ValidationError: not an encryption key, or malformed input (400).
            NotFoundError: no such key in this account and mode (404).
            PermissionDeniedError: the key lacks `quantum:crypto` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
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
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signature:
        """Sign with a fresh quantum nonce bound into the signed bytes. Without `key_id`:
        the account's default signing key for `algorithm` (Ed25519 if not given), made by
        the first such call and reused after; with `key_id` and no `algorithm`, the key's
        own (SHA3-512-RSA for an RSA key).

        Raises:
            ValidationError: the key cannot sign `algorithm` (400).
            NotFoundError: no such key in this account and mode (404).
            PermissionDeniedError: the key lacks `quantum:crypto` (403).
            QuantumUnavailableError: no entropy source can deliver the nonce (503).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.sign(message, key_id, algorithm))

    def verify(
        self,
        message: bytes,
        signature: bytes | Signature,
        *,
        quantum_nonce: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
        key_id: str | None = None,
        public_key: str | None = None,
        context: bytes | None = None,
    ) -> bool:
        """A wrong signature is False, not an exception. A `Signature` carries the rest.

        Without `quantum_nonce` the message is checked as-is (a signature made elsewhere);
        a signature from `sign` always needs its nonce. `context` is the FIPS 204 context
        of an ML-DSA-65 signature made elsewhere (absent = empty).

        Raises:
            ValidationError: malformed input, or a key or public key that does not fit
                `algorithm` (400).
            NotFoundError: no such key in this account and mode (404).
            PermissionDeniedError: the key lacks `quantum:crypto` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
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
        key_bits: int | None = None,
        algorithm: KeyExchangeAlgorithm | None = None,
        idempotency_key: str | None = None,
    ) -> KeyExchange:
        """A starts with no arguments; B answers with A's `public_key`; A completes with
        its `session_id` and B's `public_key`. A session completes once. Left out,
        `algorithm` and `key_bits` are the server's defaults (X25519, 256) when starting or
        answering, and the session's own when completing.

        Raises:
            ConflictError: the session was already completed (409).
            NotFoundError: no such session in this account and mode, or expired (404).
            ValidationError: a malformed public key or `key_bits` (400).
            PermissionDeniedError: the key lacks `quantum:crypto` (403).
            QuantumUnavailableError: no entropy source can deliver (503).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.key_exchange(peer_public_key, session_id, key_bits, algorithm),
            idempotency_key=idempotency_key,
        )


class AsyncQuantum(_AsyncResource):
    """`async_client.quantum`: the awaitable twin of `Quantum`."""

    async def health(self) -> QuantumHealth:
        return await self._client._run(ops.health())

    async def entropy(
        self,
        bits: int | None = None,
        encoding: EntropyEncoding | None = None,
        source: EntropySource | None = None,
    ) -> Entropy:
        return await self._client._run(ops.entropy(bits, encoding, source))

    async def create_key(
        self,
        algorithm: KeyAlgorithm,
        *,
        exportable: bool | None = None,
        source: EntropySource | None = None,
        key: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        return await self._client._run(
            ops.create_key(algorithm, exportable, source, key), idempotency_key=idempotency_key
        )

    async def rsa(
        self,
        bits: RsaBits | None = None,
        *,
        exportable: bool | None = None,
        source: EntropySource | None = None,
        idempotency_key: str | None = None,
    ) -> QuantumKey:
        return await self._client._run(
            ops.rsa(bits, exportable, source), idempotency_key=idempotency_key
        )

    async def list_keys(self, skip: int | None = None, limit: int | None = None) -> QuantumKeyList:
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
        algorithm: Cipher | None = None,
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
        algorithm: Cipher | None = None,
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
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signature:
        return await self._client._run(ops.sign(message, key_id, algorithm))

    async def verify(
        self,
        message: bytes,
        signature: bytes | Signature,
        *,
        quantum_nonce: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
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
        key_bits: int | None = None,
        algorithm: KeyExchangeAlgorithm | None = None,
        idempotency_key: str | None = None,
    ) -> KeyExchange:
        return await self._client._run(
            ops.key_exchange(peer_public_key, session_id, key_bits, algorithm),
            idempotency_key=idempotency_key,
        )


share_docs(Quantum, AsyncQuantum)
