"""All SQL for licensing. The quota counter is one conditional UPDATE, never read-then-write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from quantumlock.licensing.models import (
    AccountSecret,
    License,
    LicenseEvent,
    LicenseUsage,
    SigningKey,
)


class LicenseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- licenses ----------------------------------------------------------------------

    def add(self, lic: License) -> None:
        self.session.add(lic)

    def get(self, account_id: str, mode: str, license_key: str) -> License | None:
        return self.session.scalar(
            select(License).where(
                License.account_id == account_id,
                License.license_key == license_key,
                License.mode == mode,
            )
        )

    def list(
        self,
        account_id: str,
        mode: str,
        *,
        skip: int,
        limit: int,
        end_customer_id: str | None,
        status: str | None,
        now: datetime,
    ) -> tuple[int, Sequence[License]]:
        conditions = [License.account_id == account_id, License.mode == mode]
        if end_customer_id is not None:
            conditions.append(License.end_customer_id == end_customer_id)
        if status == "expired":
            conditions += [License.status == "active", License.valid_until <= now]
        elif status == "active":
            conditions += [License.status == "active", License.valid_until > now]
        elif status is not None:
            conditions.append(License.status == status)
        where = and_(*conditions)
        total = int(
            self.session.scalar(select(func.count()).select_from(License).where(where)) or 0
        )
        rows = self.session.scalars(
            select(License)
            .where(where)
            .order_by(License.created_at.desc(), License.id.desc())
            .offset(skip)
            .limit(limit)
        ).all()
        return total, rows

    def counts(self, account_id: str, now: datetime) -> tuple[int, int]:
        """(all-time live licenses, live licenses neither expired, revoked nor suspended)."""
        live = and_(License.account_id == account_id, License.mode == "live")
        total = self.session.scalar(select(func.count()).select_from(License).where(live))
        active = self.session.scalar(
            select(func.count())
            .select_from(License)
            .where(live, License.status == "active", License.valid_until > now)
        )
        return int(total or 0), int(active or 0)

    def add_event(self, event: LicenseEvent) -> None:
        self.session.add(event)

    def events(self, license_id: str) -> Sequence[LicenseEvent]:
        return self.session.scalars(
            select(LicenseEvent)
            .where(LicenseEvent.license_id == license_id)
            .order_by(LicenseEvent.id)
        ).all()

    # -- quota -------------------------------------------------------------------------

    def consume_quota(self, account_id: str, period: str, limit: int | None) -> int | None:
        """Count one license; the new count, or None if the limit is already reached.

        The row is created if missing (a no-op when it exists), then one UPDATE with the
        limit in its WHERE clause decides: concurrent callers, on one node or many, can
        never push the count past the limit.
        """
        insert = (
            pg_insert
            if self.session.bind and self.session.bind.dialect.name == "postgresql"
            else sqlite_insert
        )
        self.session.execute(
            insert(LicenseUsage)
            .values(account_id=account_id, period=period, used=0)
            .on_conflict_do_nothing(index_elements=["account_id", "period"])
        )
        condition = [LicenseUsage.account_id == account_id, LicenseUsage.period == period]
        if limit is not None:
            condition.append(LicenseUsage.used < limit)
        result = self.session.execute(
            update(LicenseUsage)
            .where(*condition)
            .values(used=LicenseUsage.used + 1)
            .returning(LicenseUsage.used)
        ).first()
        return None if result is None else int(result[0])

    def usage(self, account_id: str, period: str) -> int:
        used = self.session.scalar(
            select(LicenseUsage.used).where(
                LicenseUsage.account_id == account_id, LicenseUsage.period == period
            )
        )
        return int(used or 0)

    # -- secrets and signing keys ------------------------------------------------------

    def secret(self, account_id: str, purpose: str) -> AccountSecret | None:
        return self.session.get(AccountSecret, (account_id, purpose))

    def add_secret(self, secret: AccountSecret) -> None:
        self.session.add(secret)

    def signing_keys(
        self, account_id: str, *, include_retired: bool = False
    ) -> Sequence[SigningKey]:
        query = select(SigningKey).where(SigningKey.account_id == account_id)
        if not include_retired:
            query = query.where(
                or_(SigningKey.status == "active", SigningKey.status == "verify_only")
            )
        return self.session.scalars(query.order_by(SigningKey.created_at, SigningKey.kid)).all()

    def active_signing_key(self, account_id: str) -> SigningKey | None:
        return self.session.scalar(select(SigningKey).where(SigningKey.active_for == account_id))

    def signing_key(self, kid: str) -> SigningKey | None:
        return self.session.get(SigningKey, kid)

    def add_signing_key(self, key: SigningKey) -> None:
        self.session.add(key)
