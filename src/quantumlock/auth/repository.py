from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.auth.models import ApiKey, ApiKeyEvent
from quantumlock.db.pagination import Page, newest_first_page


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    def add_event(self, event: ApiKeyEvent) -> None:
        self.session.add(event)

    def get_with_account_by_hash(self, key_hash: bytes) -> tuple[ApiKey, Account] | None:
        row = self.session.execute(
            select(ApiKey, Account)
            .join(Account, Account.id == ApiKey.account_id)
            .where(ApiKey.key_hash == key_hash)
        ).first()
        return None if row is None else (row[0], row[1])

    def get(self, account_id: str, key_id: str) -> ApiKey | None:
        return self.session.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id)
        )

    def get_by_id(self, key_id: str) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def list(
        self, account_id: str, *, mode: str | None = None, include_revoked: bool = False
    ) -> Sequence[ApiKey]:
        query = select(ApiKey).where(ApiKey.account_id == account_id)
        if mode is not None:
            query = query.where(ApiKey.mode == mode)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return self.session.scalars(query.order_by(ApiKey.created_at, ApiKey.id)).all()

    def page(
        self,
        account_id: str,
        *,
        mode: str | None,
        after: ApiKey | None,
        limit: int,
    ) -> Page[ApiKey]:
        """Unrevoked keys, newest first, after the key `after` (the previous page's last)."""
        query = select(ApiKey).where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))
        if mode is not None:
            query = query.where(ApiKey.mode == mode)
        return newest_first_page(
            self.session,
            query,
            created_at=ApiKey.created_at,
            id_=ApiKey.id,
            after=None if after is None else (after.created_at, after.id),
            limit=limit,
        )

    def set_last_used(self, last_used: Mapping[str, datetime]) -> None:
        if not last_used:
            return
        stmt = (
            update(ApiKey.__table__)  # type: ignore[arg-type]
            .where(ApiKey.__table__.c.id == bindparam("key_id"))
            .values(last_used_at=bindparam("ts"))
        )
        self.session.connection().execute(
            stmt, [{"key_id": k, "ts": v} for k, v in last_used.items()]
        )
