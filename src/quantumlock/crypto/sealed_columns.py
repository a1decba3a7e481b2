"""Every column that holds a sealed blob, with the associated data it was sealed under.

Master-key rotation re-wraps, and retirement counts, exactly what is listed here: a new
sealed column must be added to `SEALED_COLUMNS` (the AAD must match the code that seals).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from quantumlock.crypto.exchange_service import session_aad
from quantumlock.crypto.models import KeyExchangeSession, QuantumKey
from quantumlock.crypto.sealing import Sealer, SealingError
from quantumlock.crypto.service import key_aad
from quantumlock.db.base import MasterKeyCanary
from quantumlock.db.canary import CANARY_AAD
from quantumlock.licensing.models import AccountSecret, SigningKey


@dataclass(frozen=True)
class SealedColumn:
    name: str  # table.column, for reports
    primary_key: tuple[InstrumentedAttribute[Any], ...]
    column: InstrumentedAttribute[Any]
    aad: Callable[[Any], bytes]  # from the row's primary-key values


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    # licensing.service: f"{account_id}:{purpose}" (the HMAC secret)
    SealedColumn(
        "account_secrets.sealed",
        (AccountSecret.account_id, AccountSecret.purpose),
        AccountSecret.sealed,
        lambda pk: f"{pk[0]}:{pk[1]}".encode(),
    ),
    # licensing.service: the kid
    SealedColumn(
        "signing_keys.sealed_private",
        (SigningKey.kid,),
        SigningKey.sealed_private,
        lambda pk: str(pk[0]).encode(),
    ),
    # crypto.service.key_aad
    SealedColumn(
        "quantum_keys.sealed", (QuantumKey.id,), QuantumKey.sealed, lambda pk: key_aad(pk[0])
    ),
    # crypto.exchange_service.session_aad
    SealedColumn(
        "key_exchange_sessions.sealed",
        (KeyExchangeSession.id,),
        KeyExchangeSession.sealed,
        lambda pk: session_aad(pk[0]),
    ),
    # quantumlock.db.canary: one row, a constant AAD
    SealedColumn(
        "master_key_canary.sealed",
        (MasterKeyCanary.id,),
        MasterKeyCanary.sealed,
        lambda _pk: CANARY_AAD,
    ),
)

V1 = "v1 (names no key)"


def _batches(
    session: Session, col: SealedColumn, batch: int
) -> Iterator[list[tuple[tuple[Any, ...], bytes]]]:
    """(primary key, blob) pairs in primary-key order, keyset-paginated."""
    after: tuple[Any, ...] | None = None
    while True:
        query = select(*col.primary_key, col.column).where(col.column.is_not(None))
        if after is not None:
            query = query.where(tuple_(*col.primary_key) > tuple_(*after))
        rows = session.execute(query.order_by(*col.primary_key).limit(batch)).all()
        if not rows:
            return
        yield [(tuple(r[:-1]), bytes(r[-1])) for r in rows]
        after = tuple(rows[-1][:-1])


@dataclass
class RewrapReport:
    rewrapped: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0  # deleted or rewritten by the service during the pass
    unreadable: int = 0  # opens under no key of the keyring: left as it is, reported


def rewrap_all(
    sessions: sessionmaker[Session], sealer: Sealer, *, batch: int = 500
) -> dict[str, RewrapReport]:
    """Re-wrap every sealed blob under the sealer's current master key.

    One transaction per batch. Each row is updated only if its blob is still the one read
    (a conditional UPDATE), so a key destroyed or a session spent meanwhile is left alone.
    A blob that opens under no key of the ring is counted as unreadable and skipped: one
    damaged row must not stop the others from moving to the new key.
    """
    reports: dict[str, RewrapReport] = {}
    for col in SEALED_COLUMNS:
        report = reports.setdefault(col.name, RewrapReport())
        with sessions() as session:
            for rows in _batches(session, col, batch):
                for pk, blob in rows:
                    try:
                        new = sealer.rewrap(blob, col.aad(pk))
                    except SealingError:
                        report.unreadable += 1
                        continue
                    if new == blob:
                        report.already_current += 1
                        continue
                    conditions = [c == v for c, v in zip(col.primary_key, pk, strict=True)]
                    result = session.execute(
                        update(col.column.class_)
                        .where(*conditions, col.column == blob)
                        .values({col.column.key: new})
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(result, "rowcount", 0) == 1:
                        report.rewrapped += 1
                    else:
                        report.changed_meanwhile += 1
                session.commit()
    return reports


def count_by_key(sessions: sessionmaker[Session]) -> dict[str, Counter[str]]:
    """Per column, how many blobs each master key id wraps (v1 blobs under `V1`)."""
    counts: dict[str, Counter[str]] = {}
    with sessions() as session:
        for col in SEALED_COLUMNS:
            counter = counts.setdefault(col.name, Counter())
            for rows in _batches(session, col, 1000):
                for _, blob in rows:
                    counter[Sealer.key_id_of(blob) or V1] += 1
    return counts


def verify_all(sessions: sessionmaker[Session], sealer: Sealer) -> dict[str, int]:
    """Open every blob (and discard the plaintext); raise SealingError naming the first
    that does not open. Returns how many opened per column."""
    opened: dict[str, int] = {}
    with sessions() as session:
        for col in SEALED_COLUMNS:
            opened[col.name] = 0
            for rows in _batches(session, col, 500):
                for pk, blob in rows:
                    try:
                        sealer.open(blob, col.aad(pk))
                    except SealingError as exc:
                        raise SealingError(f"{col.name} {pk}: {exc}") from None
                    opened[col.name] += 1
    return opened
