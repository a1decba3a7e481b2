"""Master-key rotation over every registered sealed column (quantumlock.keyring.registry).

`rewrap_all` moves every blob to the current master key, `count_by_key` says which key
wraps how many, `verify_all` proves every blob opens, `reseal_legacy` moves blobs still
under an older AAD. Each first checks that the registry covers the metadata: the caller
loads every model first (`quantumlock.db.engine.make_session_factory` does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

import quantumlock.keyring.canary  # noqa: F401  (registers the canary's column)
from quantumlock.db.base import Base
from quantumlock.keyring.registry import SealedColumn, require_complete
from quantumlock.keyring.sealing import Sealer, SealingError

V1 = "v1 (names no key)"


Row = tuple[tuple[Any, ...], bytes, bytes]  # primary key, AAD, blob


def registered_columns() -> tuple[SealedColumn, ...]:
    """Every registered sealed column; KeyringError if the loaded models hold one that is
    not registered (a rotation would skip it and retirement would lose it)."""
    return require_complete(Base.metadata)


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
        yield [(tuple(r[:npk]), col.aad_of(r[npk : npk + naad]), bytes(r[-1])) for r in rows]
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
    for col in registered_columns():
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
    columns = registered_columns()
    with sessions() as session:
        for col in columns:
            counter = counts.setdefault(col.name, Counter())
            for rows in _batches(session, col, 1000):
                for _, _, blob in rows:
                    counter[Sealer.key_id_of(blob) or V1] += 1
    return counts


def verify_all(sessions: sessionmaker[Session], sealer: Sealer) -> dict[str, int]:
    """Open every blob (and discard the plaintext); raise SealingError naming the first
    that does not open. Returns how many opened per column."""
    opened: dict[str, int] = {}
    columns = registered_columns()
    with sessions() as session:
        for col in columns:
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
    for col in registered_columns():
        legacy = col.legacy_aad
        if legacy is None:
            continue
        with sessions() as session:
            for rows in _batches(session, col, batch):
                for pk, aad, blob in rows:
                    try:
                        sealer.open(blob, aad)
                        continue  # already bound to its owner
                    except SealingError:
                        pass
                    try:
                        plain = sealer.open(blob, legacy(*pk))
                    except SealingError:
                        continue  # opens under neither: `verify_all` reports it
                    conditions = [c == v for c, v in zip(col.primary_key, pk, strict=True)]
                    result = session.execute(
                        update(col.column.class_)
                        .where(*conditions, col.column == blob)
                        .values({col.column.key: sealer.seal(plain, aad)})
                        .execution_options(synchronize_session=False)
                    )
                    resealed += getattr(result, "rowcount", 0)
                session.commit()
    return resealed
