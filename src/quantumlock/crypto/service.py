"""The tenant keystore: create, import, list, read and destroy keys.

Material is drawn from the entropy service, sealed at once under the master key
(AAD: key id, account and mode; `key_aad`) and leaves the server only in the creation response of an
exportable key. Every lookup is scoped to the caller's account and mode, so another
tenant's id is simply not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import Conflict, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.crypto import algorithms as alg
from quantumlock.crypto import rsa_keygen
from quantumlock.crypto.cache import CHANGE_KIND_QUANTUM_KEY
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.crypto.models import QuantumKey, key_aad
from quantumlock.crypto.repository import QuantumKeyRepository
from quantumlock.db.changes import record_change
from quantumlock.entropy.service import EntropyService
from quantumlock.entropy.types import Draw, SecurityLevel
from quantumlock.keyring.sealing import Sealer, SealingError

ID_LENGTH = 24
IMPORTED = "imported"
# The key size of a default SHA3-512-RSA signing key (sign without key_id).
DEFAULT_RSA_BITS = 3072


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: QuantumKey
    exported: bytes | None  # the raw material, only for an exportable key


@dataclass(frozen=True, slots=True)
class _Provenance:
    source: str
    security_level: str
    quantum_verified: bool
    fidelity: float | None

    @classmethod
    def of(cls, draw: Draw) -> _Provenance:
        return cls(draw.source, draw.security_level.value, draw.quantum_verified, draw.fidelity)


_IMPORTED = _Provenance(IMPORTED, SecurityLevel.CRYPTOGRAPHIC.value, False, None)


class KeystoreService:
    def __init__(
        self,
        session: Session,
        sealer: Sealer,
        entropy: EntropyService,
        keygen: RsaKeygen | None = None,
    ) -> None:
        self.session = session
        self.repo = QuantumKeyRepository(session)
        self.sealer = sealer
        self.entropy = entropy
        # The server passes its process pool; elsewhere (CLI, tests) generate in-thread.
        self.keygen = keygen or RsaKeygen(workers=0, per_account=1_000_000)

    def create(
        self,
        caller: Actor,
        algorithm: str,
        *,
        exportable: bool = False,
        source: str | None = None,
        material: bytes | None = None,
    ) -> CreatedKey:
        """A new key of `algorithm`, from fresh entropy or from imported `material`."""
        kind = alg.KINDS.get(algorithm)
        if kind is None or algorithm not in alg.KEY_ALGORITHMS:
            raise ValidationFailed(f"Unknown key algorithm {algorithm!r}.", field="algorithm")
        if material is not None:
            if source is not None:
                raise ValidationFailed(
                    "An imported key has no entropy source: omit source.", field="source"
                )
            if len(material) != kind.material_bytes:
                raise ValidationFailed(
                    f"A {algorithm} key is {kind.material_bytes} bytes, not {len(material)}.",
                    field="key",
                )
            provenance = _IMPORTED
        else:
            material, provenance = self._fresh(algorithm, source)
        return self._store(caller, algorithm, material, provenance, exportable, bits=None)

    def _fresh(self, algorithm: str, source: str | None) -> tuple[bytes, _Provenance]:
        material_bytes = alg.KINDS[algorithm].material_bytes
        assert material_bytes is not None  # noqa: S101 (RSA is not created here)
        draw = self.entropy.draw(material_bytes, source=source)
        return draw.data, _Provenance.of(draw)

    def _fresh_rsa(self, caller: Actor, bits: int, source: str | None) -> tuple[bytes, _Provenance]:
        with self.keygen.slot(caller.account_id):
            draw = self.entropy.draw(rsa_keygen.SEED_BYTES, source=source)
            der = self.keygen.generate_rsa_der(draw.data, bits)
        return der, _Provenance.of(draw)

    def default_key(self, caller: Actor, algorithm: str) -> QuantumKey:
        """The key that encrypt or sign without `key_id` uses for `algorithm` (a symmetric
        or signature algorithm; SHA3-512-RSA: an RSA-3072 key): made by the first such call
        of the account and mode, reused by every later one, and never exportable.

        Concurrent first calls (on one node or many) each make a candidate, but the unique
        index on (account, mode, default_for) lets one insert win; the others drop theirs
        (only their savepoint rolls back) and use the winner's."""
        found = self.repo.default_key(caller.account_id, caller.mode, algorithm)
        if found is not None:
            return found
        # The material is made before the savepoint: RSA takes seconds, and nothing of
        # this unit of work should wait on it while holding the row.
        if algorithm == alg.SHA3_512_RSA:
            material, provenance = self._fresh_rsa(caller, DEFAULT_RSA_BITS, None)
            row = self._row(caller, alg.RSA, material, provenance, False, bits=DEFAULT_RSA_BITS)
        else:
            material, provenance = self._fresh(algorithm, None)
            row = self._row(caller, algorithm, material, provenance, False, bits=None)
        row.default_for = algorithm
        try:
            with self.session.begin_nested():
                self.repo.add(row)
        except IntegrityError:
            winner = self.repo.default_key(caller.account_id, caller.mode, algorithm)
            if winner is None:  # not the race this handles
                raise
            return winner
        return row

    def create_rsa(
        self, caller: Actor, bits: int, *, exportable: bool = False, source: str | None = None
    ) -> CreatedKey:
        """An RSA key whose primes come from a SHAKE-256 stream seeded by the entropy service.

        Seconds of CPU, made in the keygen pool (crypto.keygen_pool) while the calling worker
        thread waits; at most `per_account` at once per account, else RateLimited (429).
        """
        if bits not in rsa_keygen.ALLOWED_BITS:
            raise ValidationFailed("bits must be 2048, 3072 or 4096.", field="bits")
        der, provenance = self._fresh_rsa(caller, bits, source)
        return self._store(caller, alg.RSA, der, provenance, exportable, bits=bits)

    def _store(
        self,
        caller: Actor,
        algorithm: str,
        material: bytes,
        provenance: _Provenance,
        exportable: bool,
        *,
        bits: int | None,
    ) -> CreatedKey:
        row = self._row(caller, algorithm, material, provenance, exportable, bits=bits)
        self.repo.add(row)
        self.session.flush()
        return CreatedKey(row, material if exportable else None)

    def _row(
        self,
        caller: Actor,
        algorithm: str,
        material: bytes,
        provenance: _Provenance,
        exportable: bool,
        *,
        bits: int | None,
    ) -> QuantumKey:
        kind = alg.KINDS[algorithm]
        key_id = new_id(kind.prefix, ID_LENGTH)
        row = QuantumKey(
            id=key_id,
            account_id=caller.account_id,
            mode=caller.mode,
            type=kind.type,
            algorithm=algorithm,
            bits=bits,
            source=provenance.source,
            security_level=provenance.security_level,
            quantum_verified=provenance.quantum_verified,
            fidelity=provenance.fidelity,
            version=1,
            exportable=exportable,
            public_key=alg.public_pem(algorithm, material),
            sealed=self.sealer.seal(material, key_aad(key_id, caller.account_id, caller.mode)),
            created_at=utcnow(),
        )
        return row

    def get(self, caller: Actor, key_id: str) -> QuantumKey:
        row = self.repo.get(caller.account_id, caller.mode, key_id)
        if row is None:
            raise NotFound(f"Key {key_id!r} not found.")
        return row

    def list(self, caller: Actor, *, skip: int, limit: int) -> tuple[int, Sequence[QuantumKey]]:
        return self.repo.list(caller.account_id, caller.mode, skip=skip, limit=limit)

    def destroy(self, caller: Actor, key_id: str) -> None:
        """Overwrite the sealed material with NULL and record who did it; final."""
        if not self.repo.destroy(
            caller.account_id, caller.mode, key_id, by=caller.key_id, at=utcnow()
        ):
            raise NotFound(f"Key {key_id!r} not found.")
        # Other processes drop the key from their in-memory caches (crypto.cache).
        record_change(self.session, CHANGE_KIND_QUANTUM_KEY, key_id)
        self.session.flush()

    def material(self, key: QuantumKey) -> bytes:
        """The key's raw material, opened from its sealed blob (never leaves the server)."""
        if key.sealed is None:
            raise NotFound(f"Key {key.id!r} not found.")
        try:
            return self.sealer.open(key.sealed, key_aad(key.id, key.account_id, key.mode))
        except SealingError:
            # Moved from another tenant, edited, or sealed under a master key no longer held.
            raise Conflict(
                f"Key {key.id!r} cannot be opened for this account: its sealed material "
                "belongs elsewhere or is damaged. Destroy it and create a new key."
            ) from None
