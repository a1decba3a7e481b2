"""All SQL for the keystore. Destroyed keys stay as audit rows without material."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from quantumlock.crypto.models import QuantumKey


def _live(account_id: str, mode: str) -> ColumnElement[bool]:
    return and_(
        QuantumKey.account_id == account_id,
        QuantumKey.mode == mode,
        QuantumKey.destroyed_at.is_(None),
    )


class QuantumKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: QuantumKey) -> None:
        self.session.add(key)

    def get(self, account_id: str, mode: str, key_id: str) -> QuantumKey | None:
        """The tenant's key, unless it was destroyed; another tenant's id is None."""
        return self.session.scalar(
            select(QuantumKey).where(QuantumKey.id == key_id, _live(account_id, mode))
        )

    def list(
        self, account_id: str, mode: str, *, skip: int, limit: int
    ) -> tuple[int, Sequence[QuantumKey]]:
        where = _live(account_id, mode)
        total = int(
            self.session.scalar(select(func.count()).select_from(QuantumKey).where(where)) or 0
        )
        rows = self.session.scalars(
            select(QuantumKey)
            .where(where)
            .order_by(QuantumKey.created_at.desc(), QuantumKey.id.desc())
            .offset(skip)
            .limit(limit)
        ).all()
        return total, rows

    def default_key(self, account_id: str, mode: str, algorithm: str) -> QuantumKey | None:
        """The account's default key for `algorithm` in `mode`, if it has one."""
        return self.session.scalar(
            select(QuantumKey).where(QuantumKey.default_for == algorithm, _live(account_id, mode))
        )

    def destroy(self, account_id: str, mode: str, key_id: str, *, by: str, at: datetime) -> bool:
        """Overwrite the sealed material with NULL; False if there was no such live key."""
        result = self.session.execute(
            update(QuantumKey)
            .where(QuantumKey.id == key_id, _live(account_id, mode))
            .values(sealed=None, destroyed_at=at, destroyed_by=by, default_for=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def reserve_invocations(self, key_id: str, n: int, limit: int) -> bool:
        """Add `n` to the key's AEAD invocation count unless that passes `limit` (atomic)."""
        result = self.session.execute(
            update(QuantumKey)
            .where(
                QuantumKey.id == key_id,
                QuantumKey.destroyed_at.is_(None),
                QuantumKey.invocations + n <= limit,
            )
            .values(invocations=QuantumKey.invocations + n)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def invocations_of(self, key_id: str) -> int:
        count = self.session.scalar(select(QuantumKey.invocations).where(QuantumKey.id == key_id))
        return int(count or 0)
