"""The node's signing material, held in memory: loaded once (making the first keys of a new
database), dropped on every CHANGE_KIND_SIGNING_KEY so a rotation made by the CLI or another
node is used within the change feed's interval."""

from __future__ import annotations

import threading

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.identity.signing import ALGORITHMS, SigningKeyService, SigningMaterial
from quantumlock.keyring.sealing import Sealer

log = structlog.get_logger(__name__)


class SigningKeys:
    def __init__(self, sessions: sessionmaker[Session], sealer: Sealer) -> None:
        self.sessions = sessions
        self.sealer = sealer
        self._material: SigningMaterial | None = None
        # Re-entrant: material() ensures under it, and the start-up ensure takes it too, so
        # the two never both make keys on one node (two active keys per algorithm).
        self._lock = threading.RLock()
        self._generation = 0  # bumped by every change: a load that overlapped one is dropped

    def ensure(self) -> None:
        """One active key per algorithm. Two nodes starting on a new database may both make
        one: a duplicate is caught and the keys reloaded; if both commit, the newest active
        key of an algorithm signs and every one is published, so either is harmless."""
        try:
            with self._lock, unit_of_work(self.sessions) as session:
                SigningKeyService(session, self.sealer).ensure()
        except IntegrityError:
            log.info("signing_keys_made_elsewhere")
        self.invalidate()

    def material(self) -> SigningMaterial:
        material = self._material
        if material is not None:
            return material
        with self._lock:
            if self._material is None:
                generation = self._generation
                with unit_of_work(self.sessions) as session:
                    loaded = SigningKeyService(session, self.sealer).material()
                if any(alg not in loaded.active for alg in ALGORITHMS):
                    self.ensure()
                    with unit_of_work(self.sessions) as session:
                        loaded = SigningKeyService(session, self.sealer).material()
                if generation != self._generation:
                    return loaded  # a change arrived meanwhile: next call loads again
                self._material = loaded
            return self._material

    def invalidate(self, ref: str = "") -> None:
        del ref
        self._generation += 1
        self._material = None
