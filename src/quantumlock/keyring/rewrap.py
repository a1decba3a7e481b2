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

from quantumlock.crypto.exchange_service import legacy_session_aad, session_aad
from quantumlock.crypto.models import KeyExchangeSession, QuantumKey
from quantumlock.crypto.sealing import Sealer, SealingError
from quantumlock.crypto.service import key_aad, legacy_key_aad
from quantumlock.db.base import MasterKeyCanary
from quantumlock.db.canary import CANARY_AAD
from quantumlock.licensing.models import AccountSecret, SigningKey


@dataclass(frozen=True)
class SealedColumn:
    name: str  # table.column, for reports
    primary_key: tuple[InstrumentedAttribute[Any], ...]
    column: InstrumentedAttribute[Any]
    aad: Callable[[Any], bytes]  # from the values of `aad_from` (default: the primary key)
    # The row's columns the AAD is built from, when more than the primary key (the owning
    # account and mode: a blob moved to another tenant's row must not open).
    aad_from: tuple[InstrumentedAttribute[Any], ...] = ()

    @property
    def aad_columns(self) -> tuple[InstrumentedAttribute[Any], ...]:
        return self.aad_from or self.primary_key


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
    # crypto.service.key_aad: key id, account, mode
    SealedColumn(
        "quantum_keys.sealed",
        (QuantumKey.id,),
        QuantumKey.sealed,
        lambda v: key_aad(v[0], v[1], v[2]),
        (QuantumKey.id, QuantumKey.account_id, QuantumKey.mode),
    ),
    # crypto.exchange_service.session_aad: session id, account, mode
    SealedColumn(
        "key_exchange_sessions.sealed",
        (KeyExchangeSession.id,),
        KeyExchangeSession.sealed,
        lambda v: session_aad(v[0], v[1], v[2]),
        (KeyExchangeSession.id, KeyExchangeSession.account_id, KeyExchangeSession.mode),
    ),
    # quantumlock.db.canary: one row, a constant AAD
    SealedColumn(
        "master_key_canary.sealed",
        (MasterKeyCanary.id,),
        MasterKeyCanary.sealed,
        lambda _pk: CANARY_AAD,
    ),
)

# Before #16 these two were sealed under their id alone; `reseal_legacy` moves them once.
_LEGACY_AAD: dict[str, Callable[[Any], bytes]] = {
    "quantum_keys.sealed": lambda v: legacy_key_aad(v[0]),
    "key_exchange_sessions.sealed": lambda v: legacy_session_aad(v[0]),
}

V1 = "v1 (names no key)"


Row = tuple[tuple[Any, ...], bytes, bytes]  # primary key, AAD, blob


def _batches(session: Session, col: SealedColumn, batch: int) -> Iterator[list[Row]]:
    """(primary key, AAD, blob) in primary-key order, keyset-paginated."""
    after: tuple[Any, ...] | None = None
    npk, naad = len(col.primary_key), len(col.aad_columns)
    while True:
        query = select(*col.primary_key, *col.aad_columns, col.column).where(
            col.column.is_not(None)
        )
        if after is not None:
            query = query.where(tuple_(*col.primary_key) > tuple_(*after))
        rows = session.execute(query.order_by(*col.primary_key).limit(batch)).all()
        if not rows:
            return
        yield [(tuple(r[:npk]), col.aad(tuple(r[npk : npk + naad])), bytes(r[-1])) for r in rows]
        after = tuple(rows[-1][:npk])


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
                for pk, aad, blob in rows:
                    try:
                        new = sealer.rewrap(blob, aad)
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
                for _, _, blob in rows:
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
                for pk, aad, blob in rows:
                    try:
                        sealer.open(blob, aad)
                    except SealingError as exc:
                        raise SealingError(f"{col.name} {pk}: {exc}") from None
                    opened[col.name] += 1
    return opened


def reseal_legacy(sessions: sessionmaker[Session], sealer: Sealer, *, batch: int = 500) -> int:
    """Re-seal, once, the keystore and key-exchange blobs still under their pre-#16 AAD
    (the id alone) to the AAD that names their account and mode. Run by `quantumlock init`.

    Each blob is opened under the old AAD with the row's *current* id and re-sealed bound
    to the row's current owner, with a conditional UPDATE (left alone if changed meanwhile).
    Blobs that already open under the new AAD are skipped, so running it again is cheap;
    there is no run-time fallback to the old AAD (that would keep a moved row opening).
    Returns how many blobs were re-sealed.
    """
    resealed = 0
    for col in SEALED_COLUMNS:
        legacy = _LEGACY_AAD.get(col.name)
        if legacy is None:
            continue
        npk = len(col.primary_key)
        with sessions() as session:
            after: tuple[Any, ...] | None = None
            while True:
                query = select(*col.aad_columns, col.column).where(col.column.is_not(None))
                if after is not None:
                    query = query.where(tuple_(*col.primary_key) > tuple_(*after))
                rows = session.execute(query.order_by(*col.primary_key).limit(batch)).all()
                if not rows:
                    break
                for row in rows:
                    values, blob = tuple(row[:-1]), bytes(row[-1])
                    try:
                        sealer.open(blob, col.aad(values))
                        continue  # already bound to its owner
                    except SealingError:
                        pass
                    try:
                        plain = sealer.open(blob, legacy(values))
                    except SealingError:
                        continue  # opens under neither: `verify_all` reports it
                    conditions = [
                        c == v for c, v in zip(col.primary_key, values[:npk], strict=True)
                    ]
                    result = session.execute(
                        update(col.column.class_)
                        .where(*conditions, col.column == blob)
                        .values({col.column.key: sealer.seal(plain, col.aad(values))})
                        .execution_options(synchronize_session=False)
                    )
                    resealed += getattr(result, "rowcount", 0)
                session.commit()
                after = tuple(rows[-1][:npk])
    return resealed
