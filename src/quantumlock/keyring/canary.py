"""The master-key canary: a known value sealed under the master key, one row per database.

A well-formed but wrong master key (another deployment's, a typo'd QL_MASTER_KEY) cannot
be told from the right one by its shape: a node holding it would start, report healthy and
then refuse every sealed secret. The canary tells them apart: `quantumlock init` seals it,
`serve` refuses to start and /health/ready answers 503 when it does not open. A database
from before the canary gets one at its next `init` or `serve` (the key then in use is taken
as the right one: it is what the operator started the node with).

Master-key rotation re-wraps it like every other sealed column: it registers itself in
quantumlock.keyring.registry with the AAD it is sealed and opened under here.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.core.clock import utcnow
from quantumlock.db.base import MasterKeyCanary
from quantumlock.keyring.registry import register_sealed
from quantumlock.keyring.sealing import Sealer, SealingError

CANARY_ID = 1
CANARY_AAD = b"master-key-canary"
CANARY_VALUE = b"quantumlock master-key canary v1"


def canary_aad(_canary_id: int) -> bytes:
    """One row, one constant AAD."""
    return CANARY_AAD


register_sealed(MasterKeyCanary.sealed, key=(MasterKeyCanary.id,), aad=canary_aad)


class CanaryMismatch(RuntimeError):
    """The master key in use does not open this database's canary."""


def mismatch_message(source: str) -> str:
    """One line naming the cause; `source` says where the key came from."""
    return (
        f"master key does not open this database's canary: {source} is not the key "
        "this database was initialised with"
    )


def canary_opens(sealer: Sealer, sealed: bytes) -> bool:
    try:
        return sealer.open(sealed, canary_aad(CANARY_ID)) == CANARY_VALUE
    except SealingError:
        return False


def check_canary(engine: Engine, sealer: Sealer) -> bool | None:
    """True if the canary opens, False if it does not, None if there is none yet."""
    with Session(engine) as session:
        row = session.get(MasterKeyCanary, CANARY_ID)
        if row is None:
            return None
        return canary_opens(sealer, row.sealed)


def ensure_canary(engine: Engine, sealer: Sealer, source: str) -> bool:
    """Check the canary, sealing one first if the database has none (True: sealed now).

    Raises CanaryMismatch (its message names `source`) when the key does not open it.
    """
    found = check_canary(engine, sealer)
    if found is None:
        with Session(engine) as session:
            session.add(
                MasterKeyCanary(
                    id=CANARY_ID,
                    sealed=sealer.seal(CANARY_VALUE, canary_aad(CANARY_ID)),
                    created_at=utcnow(),
                )
            )
            try:
                session.commit()
                return True
            except IntegrityError:  # another node sealed one meanwhile: check that one
                session.rollback()
        found = check_canary(engine, sealer)
    if not found:
        raise CanaryMismatch(mismatch_message(source))
    return False
