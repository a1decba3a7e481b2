"""All SQL of the idempotency domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, update
from sqlalchemy.orm import Session

from quantumlock.idempotency.models import IdempotencyRecord

R = IdempotencyRecord


def _pk(account_id: str, mode: str, key: str) -> ColumnElement[bool]:
    return and_(R.account_id == account_id, R.mode == mode, R.key == key)


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, account_id: str, mode: str, key: str) -> IdempotencyRecord | None:
        return self.session.get(R, (account_id, mode, key), populate_existing=True)

    def insert_claim(
        self, account_id: str, mode: str, key: str, fingerprint: str, token: str, now: datetime
    ) -> None:
        """Flushes at once: a key another request claimed first is an IntegrityError here."""
        self.session.add(
            R(
                account_id=account_id,
                mode=mode,
                key=key,
                fingerprint=fingerprint,
                token=token,
                created_at=now,
                locked_at=now,
            )
        )
        self.session.flush()

    def take_over(
        self,
        account_id: str,
        mode: str,
        key: str,
        *,
        old_token: str,
        fingerprint: str,
        token: str,
        now: datetime,
        fresh: bool,
    ) -> bool:
        """Claim a record that is expired (`fresh`: a new 24 h window) or abandoned in flight,
        if no other request took it since it was read (its token is still `old_token`)."""
        values: dict[str, object] = {"token": token, "locked_at": now}
        if fresh:
            values.update(fingerprint=fingerprint, created_at=now, status_code=None, sealed=None)
        result = self.session.execute(
            update(R).where(_pk(account_id, mode, key), R.token == old_token).values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def answer(
        self, account_id: str, mode: str, key: str, token: str, status_code: int, sealed: bytes
    ) -> bool:
        """Store the answer, if the claim is still this request's."""
        result = self.session.execute(
            update(R)
            .where(_pk(account_id, mode, key), R.token == token, R.status_code.is_(None))
            .values(status_code=status_code, sealed=sealed)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, account_id: str, mode: str, key: str, token: str) -> None:
        """Forget a claim that got no answer (never an answered record)."""
        self.session.execute(
            delete(R).where(_pk(account_id, mode, key), R.token == token, R.status_code.is_(None))
        )

    def prune(self, before: datetime) -> int:
        """Delete the records first used before `before`; how many went."""
        result = self.session.execute(delete(R).where(R.created_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]
