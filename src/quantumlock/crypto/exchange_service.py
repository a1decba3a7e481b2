"""Key exchange (docs/quantum-api.md, "key-exchange"): X25519 or hybrid X25519 + ML-KEM-768.

Three calls make one exchange:

1. A initiates: a key pair from the entropy service; the private half is sealed in a
   session row that expires after 10 minutes.
2. B responds with A's public value: a fresh key pair (and, hybrid, an ML-KEM
   encapsulation to A's key); B gets the secret at once. B's row is stored completed,
   without private material, for the record.
3. A completes with B's public value and the session id: the same secret. The session is
   spent by one conditional UPDATE, so a replay (even a concurrent one) is 409.

Secret = HKDF-SHA256(ikm = X25519 secret [‖ ML-KEM secret], salt = none,
info = b"QL-KEX-v1\\0" + algorithm + b"\\0" + A's public + B's public, key_bits / 8).
Both public values are in `info`, so a swapped public value changes the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.errors import Conflict, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.crypto.exchange_repository import KeyExchangeRepository
from quantumlock.crypto.models import KeyExchangeSession, session_aad
from quantumlock.entropy.service import EntropyService
from quantumlock.keyring.sealing import Sealer, SealingError

X25519: Final = "X25519"
HYBRID: Final = "X25519-ML-KEM-768"
ALGORITHMS: Final = (X25519, HYBRID)
SESSION_TTL: Final = timedelta(minutes=10)
SESSION_PREFIX: Final = "session"

X25519_LEN: Final = 32
MLKEM_SEED_LEN: Final = 64
MLKEM_EK_LEN: Final = 1184  # ML-KEM-768 encapsulation key
MLKEM_CT_LEN: Final = 1088  # ML-KEM-768 ciphertext
INFO_PREFIX: Final = b"QL-KEX-v1\x00"

SESSION_NOT_FOUND = "Key-exchange session not found or expired."


def initiator_public_len(algorithm: str) -> int:
    return X25519_LEN + (MLKEM_EK_LEN if algorithm == HYBRID else 0)


def responder_public_len(algorithm: str) -> int:
    return X25519_LEN + (MLKEM_CT_LEN if algorithm == HYBRID else 0)


def derive_secret(
    algorithm: str, ikm: bytes, a_public: bytes, b_public: bytes, key_bits: int
) -> bytes:
    info = INFO_PREFIX + algorithm.encode() + b"\x00" + a_public + b_public
    return HKDF(algorithm=hashes.SHA256(), length=key_bits // 8, salt=None, info=info).derive(ikm)


def _check_length(value: bytes, expected: int, algorithm: str) -> None:
    if len(value) != expected:
        raise ValidationFailed(
            f"peer_public_key for {algorithm} must be {expected} bytes, not {len(value)}.",
            field="peer_public_key",
        )


def _x25519(private: x25519.X25519PrivateKey, peer: bytes) -> bytes:
    try:
        return private.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    except ValueError:  # a low-order point gives the all-zero secret: pyca refuses it
        raise ValidationFailed(
            "peer_public_key is not a usable X25519 public key.", field="peer_public_key"
        ) from None


@dataclass(frozen=True, slots=True)
class ExchangeStep:
    session_id: str
    public_key: bytes
    shared_secret: bytes | None
    algorithm: str
    key_bits: int
    expires_at: datetime


class KeyExchangeService:
    def __init__(self, session: Session, sealer: Sealer, entropy: EntropyService) -> None:
        self.session = session
        self.repo = KeyExchangeRepository(session)
        self.sealer = sealer
        self.entropy = entropy

    def exchange(
        self,
        caller: Actor,
        *,
        algorithm: str,
        key_bits: int,
        peer_public_key: bytes | None,
        session_id: str | None,
        algorithm_given: bool = True,
        key_bits_given: bool = True,
    ) -> ExchangeStep:
        """One step of the flow, chosen by which of `peer_public_key`/`session_id` is set.

        On completion the session's own algorithm and key size are used; a request that
        names different ones (`*_given`) is refused rather than silently overridden.
        """
        account_id, mode = caller.account_id, caller.mode
        if algorithm not in ALGORITHMS:
            raise ValidationFailed(
                f"Unknown key-exchange algorithm {algorithm!r}.", field="algorithm"
            )
        if not (128 <= key_bits <= 512 and key_bits % 8 == 0):
            raise ValidationFailed(
                "key_bits must be a multiple of 8 from 128 to 512.", field="key_bits"
            )
        if session_id is not None:
            if peer_public_key is None:
                raise ValidationFailed(
                    "Completing a session needs the peer's public key in peer_public_key.",
                    field="peer_public_key",
                )
            return self._complete(
                account_id,
                mode,
                session_id,
                peer_public_key,
                algorithm if algorithm_given else None,
                key_bits if key_bits_given else None,
            )
        if peer_public_key is None:
            return self._initiate(account_id, mode, algorithm, key_bits)
        return self._respond(account_id, mode, algorithm, key_bits, peer_public_key)

    # -- the three steps ---------------------------------------------------------------

    def _initiate(self, account_id: str, mode: str, algorithm: str, key_bits: int) -> ExchangeStep:
        hybrid = algorithm == HYBRID
        private = self.entropy.draw(X25519_LEN + (MLKEM_SEED_LEN if hybrid else 0)).data
        public = x25519.X25519PrivateKey.from_private_bytes(private[:X25519_LEN]).public_key()
        a_public = public.public_bytes_raw()
        if hybrid:
            kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(private[X25519_LEN:])
            a_public += kem.public_key().public_bytes_raw()
        self.repo.purge_expired(utcnow())
        row = self._store(account_id, mode, algorithm, key_bits, a_public, private=private)
        return ExchangeStep(row.id, a_public, None, algorithm, key_bits, row.expires_at)

    def _respond(
        self, account_id: str, mode: str, algorithm: str, key_bits: int, a_public: bytes
    ) -> ExchangeStep:
        _check_length(a_public, initiator_public_len(algorithm), algorithm)
        private = x25519.X25519PrivateKey.from_private_bytes(self.entropy.draw(X25519_LEN).data)
        ikm = _x25519(private, a_public[:X25519_LEN])
        b_public = private.public_key().public_bytes_raw()
        if algorithm == HYBRID:
            try:
                ek = mlkem.MLKEM768PublicKey.from_public_bytes(a_public[X25519_LEN:])
            except ValueError:
                raise ValidationFailed(
                    "peer_public_key holds no valid ML-KEM-768 encapsulation key.",
                    field="peer_public_key",
                ) from None
            kem_secret, ciphertext = ek.encapsulate()
            ikm += kem_secret
            b_public += ciphertext
        secret = derive_secret(algorithm, ikm, a_public, b_public, key_bits)
        # Nothing to keep: the responder's side is done when it answers.
        row = self._store(account_id, mode, algorithm, key_bits, b_public, private=None)
        return ExchangeStep(row.id, b_public, secret, algorithm, key_bits, row.expires_at)

    def _store(
        self,
        account_id: str,
        mode: str,
        algorithm: str,
        key_bits: int,
        public: bytes,
        *,
        private: bytes | None,
    ) -> KeyExchangeSession:
        """A session row: the initiator's, open, with its private half sealed; or the
        responder's, completed at once, with nothing sealed."""
        now = utcnow()
        session_id = new_id(SESSION_PREFIX, 24)
        row = KeyExchangeSession(
            id=session_id,
            account_id=account_id,
            mode=mode,
            algorithm=algorithm,
            key_bits=key_bits,
            public_key=public,
            sealed=None
            if private is None
            else self.sealer.seal(private, session_aad(session_id, account_id, mode)),
            created_at=now,
            expires_at=now + SESSION_TTL,
            completed_at=now if private is None else None,
        )
        self.repo.add(row)
        self.session.flush()
        return row

    def _complete(
        self,
        account_id: str,
        mode: str,
        session_id: str,
        b_public: bytes,
        algorithm: str | None,
        key_bits: int | None,
    ) -> ExchangeStep:
        now = utcnow()
        row = self.repo.get(session_id, account_id, mode)
        if row is None or as_utc(row.expires_at) <= now:
            raise NotFound(SESSION_NOT_FOUND)
        if row.completed_at is not None or row.sealed is None:
            raise Conflict("Key-exchange session was already completed.")
        if algorithm is not None and algorithm != row.algorithm:
            raise ValidationFailed(
                f"Session {session_id} uses {row.algorithm}, not {algorithm}.", field="algorithm"
            )
        if key_bits is not None and key_bits != row.key_bits:
            raise ValidationFailed(
                f"Session {session_id} derives {row.key_bits} bits, not {key_bits}.",
                field="key_bits",
            )
        _check_length(b_public, responder_public_len(row.algorithm), row.algorithm)
        # Derive before spending: a bad peer value is a 400 that leaves the session usable.
        try:
            private = self.sealer.open(row.sealed, session_aad(row.id, row.account_id, row.mode))
        except SealingError:
            raise Conflict(
                "Key-exchange session cannot be opened for this account (moved or damaged)."
            ) from None
        ikm = _x25519(
            x25519.X25519PrivateKey.from_private_bytes(private[:X25519_LEN]),
            b_public[:X25519_LEN],
        )
        if row.algorithm == HYBRID:
            kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(private[X25519_LEN:])
            ikm += kem.decapsulate(b_public[X25519_LEN:])
        secret = derive_secret(row.algorithm, ikm, row.public_key, b_public, row.key_bits)
        algorithm_, key_bits_, expires_at = row.algorithm, row.key_bits, as_utc(row.expires_at)
        a_public = row.public_key
        if not self.repo.spend(session_id, account_id, mode, now):
            # Lost a race: someone else completed it (or it just expired). The row read
            # above is stale: read it again.
            self.session.expire(row)
            again = self.repo.get(session_id, account_id, mode)
            if again is not None and again.completed_at is not None:
                raise Conflict("Key-exchange session was already completed.")
            raise NotFound(SESSION_NOT_FOUND)
        self.session.flush()
        return ExchangeStep(session_id, a_public, secret, algorithm_, key_bits_, expires_at)
