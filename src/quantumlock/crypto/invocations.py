"""How many times a keystore key may encrypt: below 2**32 per key version.

AES-GCM (and ChaCha20-Poly1305) with random 96-bit IVs must not exceed 2**32 invocations
under one key (NIST SP 800-38D §8.3): past that, the chance of an IV repeating, which
gives away the authentication key, is no longer negligible. Every encryption is counted in
`quantum_keys.invocations` and refused with 409 CONFLICT once the limit is reached (the
key still decrypts; new data needs a new key).

Encrypting with a cached key opens no database session (the fast path), so a process
reserves invocations in blocks of `RESERVATION_BLOCK` with one atomic conditional UPDATE
(`invocations = invocations + n WHERE invocations + n <= limit`) and counts them down in
memory. Across nodes and processes the sum of reservations never passes the limit; what a
process reserved and did not use when it stops is simply lost (the count errs on the safe
side).

The first reservation is made in the caller's unit of work, not a session of its own, and
this process counts the block as its own only once that commits: the key may have been
created in the same unit of work (encrypt without `key_id`), which another session would not
see (PostgreSQL) or would wait for (SQLite's one writer, held by that unit of work). The row
stays locked from the UPDATE to the request's commit, which follows at once: the IV is
drawn before (quantumlock.crypto.operations), and the fast path never gets here.

The next blocks are reserved ahead: when a key's budget falls below a quarter of a block, one
reservation runs in the background (`refill`, a thread of its own and a unit of work of its
own; the key is committed by then), so a busy key never runs dry. Measured before, every
request in flight at the moment it ran dry took the full path at once, each reserving a
block of its own behind the row lock: encrypt's p99 was 90-250 ms, and on PostgreSQL all 64
connections once waited past wrk's 2 s time-out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial

import structlog
from sqlalchemy.orm import Session

from quantumlock.core.errors import Conflict
from quantumlock.crypto.repository import QuantumKeyRepository
from quantumlock.db.unit_of_work import after_commit

AEAD_INVOCATION_LIMIT = 2**32  # SP 800-38D §8.3, per key version
# Small against the limit (a stopped process loses at most this many per key: 1/65,536 of
# it), large enough that a block lasts a busy key tens of seconds. At 1,024, a key at ~2,000
# encryptions/s ran dry twice a second, and each time every request in flight took the full
# path to reserve (a thread, a session, the row lock): encrypt p99 ~280 ms in `make bench`.
RESERVATION_BLOCK = 2**16

log = structlog.get_logger(__name__)


def refill_below() -> int:
    """Reserve the next block ahead when fewer than this many are left (a quarter block)."""
    return RESERVATION_BLOCK // 4


class InvocationBudget:
    """A process's reserved-but-unused encryptions, per key id."""

    def __init__(
        self, sessions: Callable[[], AbstractContextManager[Session]] | None = None
    ) -> None:
        """`sessions`: opens the unit of work a background refill reserves in; without it
        (CLI, tests) blocks are reserved only on the request path."""
        self._left: dict[str, int] = {}
        self._lock = threading.Lock()
        self._sessions = sessions
        self._refilling: set[str] = set()
        self._refills: ThreadPoolExecutor | None = None

    def take(self, key_id: str) -> bool:
        """Use one reserved invocation (memory only); False when a reservation is needed."""
        with self._lock:
            left = self._left.get(key_id, 0)
            if left <= 0:
                return False
            self._left[key_id] = left - 1
            refill = (
                left <= refill_below()
                and self._sessions is not None
                and key_id not in self._refilling
            )
            if refill:
                self._refilling.add(key_id)
                if self._refills is None:
                    self._refills = ThreadPoolExecutor(1, thread_name_prefix="aead-refill")
                self._refills.submit(self._refill, key_id)
            return True

    def _refill(self, key_id: str) -> None:
        """Reserve the key's next block in a unit of work of its own (background)."""
        assert self._sessions is not None  # noqa: S101 (only submitted with sessions)
        try:
            with self._sessions() as session:
                repo = QuantumKeyRepository(session)
                n = min(RESERVATION_BLOCK, AEAD_INVOCATION_LIMIT)
                if repo.reserve_invocations(key_id, n, AEAD_INVOCATION_LIMIT):
                    after_commit(session, partial(self._credit, key_id, n))
        except Exception:  # the request path reserves (or refuses) when the budget is out
            log.warning("aead_refill_failed", key_id=key_id, exc_info=True)
        finally:
            with self._lock:
                self._refilling.discard(key_id)

    def close(self) -> None:
        if self._refills is not None:
            self._refills.shutdown(wait=True)

    def take_or_reserve(self, session: Session, key_id: str) -> None:
        """Use one invocation, reserving a block in `session`'s unit of work when none is
        left here; Conflict once the key has used its limit."""
        if self.take(key_id):
            return
        limit = AEAD_INVOCATION_LIMIT
        repo = QuantumKeyRepository(session)
        n = min(RESERVATION_BLOCK, limit)
        if not repo.reserve_invocations(key_id, n, limit):
            n = limit - repo.invocations_of(key_id)  # the last, smaller block
            if n <= 0 or not repo.reserve_invocations(key_id, n, limit):
                raise Conflict(
                    f"Key {key_id!r} has reached its limit of {limit} encryptions (random "
                    "96-bit IVs, NIST SP 800-38D 8.3). It still decrypts; create a new key "
                    "to encrypt new data."
                )
        # This call uses one of the block; the rest is ours once the reservation commits.
        after_commit(session, partial(self._credit, key_id, n - 1))

    def _credit(self, key_id: str, n: int) -> None:
        with self._lock:
            self._left[key_id] = self._left.get(key_id, 0) + n

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._left.pop(key_id, None)
