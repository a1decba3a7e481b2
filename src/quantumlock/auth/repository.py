from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.auth.models import ApiKey, ApiKeyEvent, KeyUsageDaily
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


class KeyUsageRepository:
    """key_usage_daily: requests and 429s per key and UTC day (quantumlock.auth.usage)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_counts(self, rows: Sequence[tuple[str, str, str, int, int]]) -> None:
        """Add (account_id, day, key_id, requests, throttled) to the stored counts: one
        upsert per row, which adds rather than overwrites, so nodes flushing the same
        key and day at once both land."""
        if not rows:
            return
        insert = sqlite_insert if self.session.get_bind().dialect.name == "sqlite" else pg_insert
        stmt = insert(KeyUsageDaily)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id", "day", "key_id"],
            set_={
                "requests": KeyUsageDaily.requests + stmt.excluded.requests,
                "throttled": KeyUsageDaily.throttled + stmt.excluded.throttled,
            },
        )
        self.session.connection().execute(
            stmt,
            [
                {"account_id": a, "day": d, "key_id": k, "requests": r, "throttled": t}
                for a, d, k, r, t in rows
            ],
        )

    def existing_accounts(self, account_ids: Sequence[str]) -> set[str]:
        if not account_ids:
            return set()
        return set(self.session.scalars(select(Account.id).where(Account.id.in_(account_ids))))

    def per_day(self, account_id: str, since: str) -> Sequence[tuple[str, int, int]]:
        """(day, requests, throttled) summed over the account's keys, from `since` on."""
        table = KeyUsageDaily.__table__
        rows = self.session.execute(
            select(table.c.day, func.sum(table.c.requests), func.sum(table.c.throttled))
            .where(table.c.account_id == account_id, table.c.day >= since)
            .group_by(table.c.day)
        ).all()
        return [(day, int(requests or 0), int(throttled or 0)) for day, requests, throttled in rows]

    def per_key(self, account_id: str, since: str, limit: int) -> Sequence[tuple[str, int, int]]:
        """(key_id, requests, throttled) of the account's busiest keys from `since` on."""
        table = KeyUsageDaily.__table__
        requests = func.sum(table.c.requests)
        rows = self.session.execute(
            select(table.c.key_id, requests, func.sum(table.c.throttled))
            .where(table.c.account_id == account_id, table.c.day >= since)
            .group_by(table.c.key_id)
            .order_by(requests.desc(), table.c.key_id)
            .limit(limit)
        ).all()
        return [(key_id, int(r or 0), int(t or 0)) for key_id, r, t in rows]

    def key_names(self, account_id: str, key_ids: Sequence[str]) -> dict[str, str]:
        """The names of the account's API keys among `key_ids` (revoked ones too)."""
        if not key_ids:
            return {}
        rows = self.session.execute(
            select(ApiKey.id, ApiKey.name).where(
                ApiKey.account_id == account_id, ApiKey.id.in_(list(key_ids))
            )
        ).all()
        return {key_id: name for key_id, name in rows}
