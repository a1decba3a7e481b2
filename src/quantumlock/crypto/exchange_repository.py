"""All SQL for key-exchange sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from quantumlock.crypto.models import KeyExchangeSession

PURGE_BATCH = 100


class KeyExchangeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: KeyExchangeSession) -> None:
        self.session.add(row)

    def get(self, session_id: str, account_id: str, mode: str) -> KeyExchangeSession | None:
        """The tenant's session, or None (another tenant's id is simply not found)."""
        return self.session.scalar(
            select(KeyExchangeSession).where(
                KeyExchangeSession.id == session_id,
                KeyExchangeSession.account_id == account_id,
                KeyExchangeSession.mode == mode,
            )
        )

    def spend(self, session_id: str, account_id: str, mode: str, now: datetime) -> bool:
        """Mark an open, unexpired session completed and drop its private half.

        One conditional UPDATE, so of two concurrent completions exactly one wins.
        """
        result = self.session.execute(
            update(KeyExchangeSession)
            .where(
                KeyExchangeSession.id == session_id,
                KeyExchangeSession.account_id == account_id,
                KeyExchangeSession.mode == mode,
                KeyExchangeSession.completed_at.is_(None),
                KeyExchangeSession.expires_at > now,
            )
            .values(completed_at=now, sealed=None)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def purge_expired(self, now: datetime, limit: int = PURGE_BATCH) -> None:
        """Delete up to `limit` expired sessions (bounded, so a request never stalls)."""
        expired = (
            select(KeyExchangeSession.id).where(KeyExchangeSession.expires_at <= now).limit(limit)
        )
        self.session.execute(
            delete(KeyExchangeSession)
            .where(KeyExchangeSession.id.in_(expired))
            .execution_options(synchronize_session=False)
        )
