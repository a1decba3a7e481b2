"""Encrypt, decrypt, sign and verify with keystore keys (or, to verify, a given public key).

Inputs arrive decoded (bytes); the service checks that the key suits the operation and
never lets a cryptographic failure become anything but DECRYPTION_FAILED or `valid: false`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.errors import DecryptionFailed, ValidationFailed
from quantumlock.crypto import algorithms as alg
from quantumlock.crypto.cache import CachedKey, KeyMaterialCache, KeyRef
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.crypto.models import QuantumKey
from quantumlock.crypto.service import KeystoreService
from quantumlock.db.unit_of_work import after_commit
from quantumlock.entropy.service import EntropyService
from quantumlock.keyring.sealing import Sealer


@dataclass(frozen=True, slots=True)
class Encrypted:
    """One result for both paths (a stored key's row, or its cached material)."""

    key: KeyRef
    ciphertext: bytes
    iv: bytes
    tag: bytes


@dataclass(frozen=True, slots=True)
class Decrypted:
    key: KeyRef
    plaintext: bytes


@dataclass(frozen=True, slots=True)
class Signed:
    key: QuantumKey
    signature: bytes
    nonce: bytes
    algorithm: str


@dataclass(frozen=True, slots=True)
class Verified:
    valid: bool
    key_id: str | None


class CryptoService:
    def __init__(
        self,
        session: Session,
        sealer: Sealer,
        entropy: EntropyService,
        cache: KeyMaterialCache | None = None,
        keygen: RsaKeygen | None = None,
        invocations: InvocationBudget | None = None,
    ) -> None:
        self.keys = KeystoreService(session, sealer, entropy, keygen)
        self.session = session
        # The process's budget (Runtime.invocations); a private one elsewhere (CLI, tests).
        self.invocations = invocations or InvocationBudget()
        self.entropy = entropy
        self.cache = cache
        # A key destroyed while this request reads it must not come back into the cache.
        self._generation = cache.generation if cache is not None else 0

    def _opened(self, caller: Actor, key: QuantumKey) -> bytes:
        """A symmetric key's material, remembered in the cache for the fast path."""
        material = self.keys.material(key)
        if self.cache is not None:
            # Once the unit of work commits: a key created in it may yet roll back.
            after_commit(
                self.session,
                partial(
                    self.cache.put,
                    (caller.account_id, caller.mode, key.id),
                    CachedKey(key.id, key.algorithm, key.version, key.quantum_verified, material),
                    generation=self._generation,
                ),
            )
        return material

    # -- AEAD --------------------------------------------------------------------------

    def _symmetric_key(self, caller: Actor, key_id: str, algorithm: str | None) -> QuantumKey:
        key = self.keys.get(caller, key_id)
        if key.type != "symmetric":
            raise ValidationFailed(
                f"Key {key_id!r} is a {key.algorithm} key, not an encryption key.", field="key_id"
            )
        if algorithm is not None and algorithm != key.algorithm:
            raise ValidationFailed(
                f"Key {key_id!r} is a {key.algorithm} key, not {algorithm}.", field="algorithm"
            )
        return key

    def encrypt(
        self,
        caller: Actor,
        plaintext: bytes,
        *,
        key_id: str | None,
        algorithm: str | None,
        aad: bytes | None,
    ) -> Encrypted:
        """`algorithm` None: the key's own, or AES-256-GCM. Without `key_id`: the account's
        default key for the algorithm (made by the first such call)."""
        if algorithm is None and key_id is None:
            algorithm = alg.AES_256_GCM
        if algorithm is not None and algorithm not in alg.SYMMETRIC:
            raise ValidationFailed(
                f"Unknown encryption algorithm {algorithm!r}.", field="algorithm"
            )
        # Drawn first: a source that blocks must not do so while this unit of work holds
        # the key's row (its reservation, quantumlock.crypto.invocations) or a new key's.
        iv = self.entropy.draw(alg.IV_BYTES).data
        if key_id is None:
            assert algorithm is not None  # noqa: S101 - defaulted above
            key = self.keys.default_key(caller, algorithm)
        else:
            key = self._symmetric_key(caller, key_id, algorithm)
        material = self._opened(caller, key)  # before counting: a key that does not open
        self.invocations.take_or_reserve(self.session, key.id)  # 409 past 2**32
        ciphertext, tag = alg.aead_encrypt(key.algorithm, material, iv, plaintext, aad)
        return Encrypted(KeyRef.of(key), ciphertext, iv, tag)

    def decrypt(
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
        if algorithm is not None and algorithm not in alg.SYMMETRIC:
            raise ValidationFailed(
                f"Unknown encryption algorithm {algorithm!r}.", field="algorithm"
            )
        key = self._symmetric_key(caller, key_id, algorithm)
        plaintext = alg.aead_decrypt(
            key.algorithm, self._opened(caller, key), iv, ciphertext, tag, aad
        )
        if plaintext is None:
            raise DecryptionFailed()
        return Decrypted(KeyRef.of(key), plaintext)

    # -- signatures ---------------------------------------------------------------------

    def _signing_key(self, caller: Actor, key_id: str, algorithm: str) -> QuantumKey:
        key = self.keys.get(caller, key_id)
        fits = (
            key.algorithm == alg.RSA
            if algorithm == alg.SHA3_512_RSA
            else key.algorithm == algorithm
        )
        if not fits:
            raise ValidationFailed(
                f"Key {key_id!r} is a {key.algorithm} key: it cannot sign or verify {algorithm}.",
                field="key_id",
            )
        return key

    def sign(
        self, caller: Actor, message: bytes, *, key_id: str | None, algorithm: str | None
    ) -> Signed:
        """`algorithm` None: the key's own (SHA3-512-RSA for an RSA key), or SHA3-512-RSA.
        Without `key_id`: the account's default key for the algorithm (RSA-3072 for
        SHA3-512-RSA), made by the first such call."""
        if algorithm is None:
            if key_id is None:
                algorithm = alg.SHA3_512_RSA
            else:
                own = self.keys.get(caller, key_id).algorithm
                algorithm = alg.SHA3_512_RSA if own == alg.RSA else own
        if algorithm not in alg.SIGNATURE_ALGORITHMS:
            raise ValidationFailed(f"Unknown signature algorithm {algorithm!r}.", field="algorithm")
        if key_id is not None:
            key = self._signing_key(caller, key_id, algorithm)
        else:
            key = self.keys.default_key(caller, algorithm)
        nonce = self.entropy.draw(alg.NONCE_BYTES).data
        data = alg.signed_bytes(algorithm, nonce, message)
        signature = alg.sign(algorithm, key.algorithm, self.keys.material(key), data)
        return Signed(key, signature, nonce, algorithm)

    def verify(
        self,
        caller: Actor,
        message: bytes,
        signature: bytes,
        *,
        nonce: bytes | None,
        algorithm: str,
        key_id: str | None,
        public_key: str | None,
        context: bytes | None = None,
    ) -> Verified:
        """With a nonce: the contract's bound bytes. Without: the bare message (external
        signatures, known-answer tests). `context`: ML-DSA-65's context string."""
        if algorithm not in alg.SIGNATURE_ALGORITHMS:
            raise ValidationFailed(f"Unknown signature algorithm {algorithm!r}.", field="algorithm")
        if context is not None and algorithm != alg.ML_DSA_65:
            raise ValidationFailed("context applies to ML-DSA-65 only.", field="context")
        if (key_id is None) == (public_key is None):
            raise ValidationFailed("Give exactly one of key_id and public_key.", field="key_id")
        if key_id is not None:
            row = self._signing_key(caller, key_id, algorithm)
            assert row.public_key is not None  # noqa: S101 (signing and RSA keys have one)
            pem = row.public_key
        else:
            assert public_key is not None  # noqa: S101
            pem = public_key
        try:
            key = alg.load_public(pem)
        except alg.KeyFormatError as exc:
            raise ValidationFailed(str(exc), field="public_key") from None
        if not alg.key_fits(algorithm, key):
            raise ValidationFailed(f"public_key is not a key for {algorithm}.", field="public_key")
        data = alg.signed_bytes(algorithm, nonce, message)
        return Verified(alg.verify(algorithm, key, signature, data, context), key_id)
