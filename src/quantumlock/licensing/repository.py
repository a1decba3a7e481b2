"""All SQL for licensing. The quota counter is one conditional UPDATE, never read-then-write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from typing import cast as type_cast

from sqlalchemy import (
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import PLANS
from quantumlock.licensing.models import (
    AccountSecret,
    License,
    LicenseEvent,
    LicenseUsage,
    LicenseValidationDaily,
    SigningKey,
)

_KEY_MATCH = and_(
    License.account_id == bindparam("account_id"),
    License.license_key == bindparam("license_key"),
    License.mode == bindparam("mode"),
)
# Built once: constructing the expression and its cache key on every call cost more than
# the query itself.
_BY_KEY = select(License).where(_KEY_MATCH)
# Validation's hot path: Core, only the columns it reads (not the 4.5 KB license file).
_t = License.__table__.c
_VALIDATION_COLUMNS = (
    _t.license_key,
    _t.account_id,
    _t.mode,
    _t.end_customer_id,
    _t.features,
    _t.metadata.label("meta"),
    _t.status,
    _t.version,
    _t.valid_until,
    _t.generated_at,
    _t.quantum_signature,
    _t.quantum_verified,
    _t.id,
)
_FOR_VALIDATION = select(*_VALIDATION_COLUMNS).where(_KEY_MATCH)
# The validation cache's batched loads: many keys of one account at once. The mode is
# checked on the rows, not in SQL: with `mode = ?` beside an IN list of five keys or more,
# SQLite's planner (no statistics) takes the (account_id, mode, created_at) listing index
# and walks every license of the account (1M rows: seconds per query), where the unique
# (account_id, license_key) index finds each key directly.
_MANY_FOR_VALIDATION = select(*_VALIDATION_COLUMNS).where(
    License.account_id == bindparam("account_id"),
    License.license_key.in_(bindparam("license_keys", expanding=True)),
)


def active_slot(account_id: str, mode: str) -> str:
    """`SigningKey.active_for` of the active key of an account and mode: one of each."""
    return account_id if mode == "live" else f"{account_id}:{mode}"


@dataclass(frozen=True, slots=True)
class LicenseQuery:
    """The portal's search: each field set narrows the list (None: no condition)."""

    # A license key (exact, any case) or the start of an end customer id (any case).
    search: str | None = None
    # active | suspended | revoked | expired (active past `valid_until`).
    status: str | None = None
    feature: str | None = None  # the license includes this feature
    # Active and not expired, but expiring at or before this instant.
    expires_before: datetime | None = None


def _like_escaped(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards taken literally (escape character `!`)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


@dataclass(frozen=True, slots=True)
class LicenseView:
    """What validation needs of a license row."""

    license_key: str
    account_id: str
    mode: str
    end_customer_id: str
    features: list[str]
    meta: dict[str, Any]
    status: str
    version: int  # signed with the status; 0: signed before it was, refused
    valid_until: datetime
    generated_at: datetime
    quantum_signature: str
    quantum_verified: bool
    # The row's id: validations are counted per license (LicenseValidationDaily).
    id: str = ""
    # The account secret this view's signature was found good with. A view never changes
    # once loaded, so the HMAC over it is checked once per load, not once per cached hit:
    # a row tampered with in the database is caught when it is (re)loaded, as before.
    verified_with: bytes | None = field(default=None, init=False, repr=False, compare=False)


class LicenseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- licenses ----------------------------------------------------------------------

    def add(self, lic: License) -> None:
        self.session.add(lic)

    def get(self, account_id: str, mode: str, license_key: str) -> License | None:
        return self.session.scalar(
            _BY_KEY, {"account_id": account_id, "license_key": license_key, "mode": mode}
        )

    def view(self, account_id: str, mode: str, license_key: str) -> LicenseView | None:
        row = self.session.execute(
            _FOR_VALIDATION,
            {"account_id": account_id, "license_key": license_key, "mode": mode},
        ).first()
        return None if row is None else LicenseView(*tuple(row))

    def views(self, account_id: str, mode: str, license_keys: Sequence[str]) -> list[LicenseView]:
        rows = self.session.execute(
            _MANY_FOR_VALIDATION, {"account_id": account_id, "license_keys": list(license_keys)}
        )
        return [LicenseView(*tuple(row)) for row in rows if row.mode == mode]

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

    def search(
        self,
        account_id: str,
        mode: str,
        query: LicenseQuery,
        *,
        skip: int,
        limit: int,
        now: datetime,
    ) -> tuple[int, Sequence[License]]:
        """The portal's filtered list, newest first, and how many match."""
        conditions = [License.account_id == account_id, License.mode == mode]
        if query.search:
            prefix = _like_escaped(query.search.lower()) + "%"
            conditions.append(
                or_(
                    License.license_key == query.search.strip().upper(),
                    func.lower(License.end_customer_id).like(prefix, escape="!"),
                )
            )
        if query.status == "expired":
            conditions += [License.status == "active", License.valid_until <= now]
        elif query.status == "active":
            conditions += [License.status == "active", License.valid_until > now]
        elif query.status is not None:
            conditions.append(License.status == query.status)
        if query.feature:
            # The JSON array's text holds each feature as json.dumps writes it (how the
            # column is stored on SQLite and PostgreSQL alike), quotes included: an exact
            # element, not a substring of another feature.
            element = "%" + _like_escaped(json.dumps(query.feature)) + "%"
            conditions.append(cast(License.features, String).like(element, escape="!"))
        if query.expires_before is not None:
            conditions += [
                License.status == "active",
                License.valid_until > now,
                License.valid_until <= query.expires_before,
            ]
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

    def legacy(self, after_id: str, limit: int) -> Sequence[License]:
        """Rows signed before the status was (version 0), by id, a batch at a time."""
        return self.session.scalars(
            select(License)
            .where(License.version == 0, License.id > after_id)
            .order_by(License.id)
            .limit(limit)
        ).all()

    def add_event(self, event: LicenseEvent) -> None:
        self.session.add(event)

    def events(self, license_id: str) -> Sequence[LicenseEvent]:
        return self.session.scalars(
            select(LicenseEvent)
            .where(LicenseEvent.license_id == license_id)
            .order_by(LicenseEvent.id)
        ).all()

    def event_page(
        self, license_id: str, *, skip: int, limit: int
    ) -> tuple[int, Sequence[LicenseEvent]]:
        """(how many, one page newest first): ids grow with time, so the id orders them."""
        where = LicenseEvent.license_id == license_id
        total = self.session.scalar(select(func.count()).select_from(LicenseEvent).where(where))
        rows = self.session.scalars(
            select(LicenseEvent)
            .where(where)
            .order_by(LicenseEvent.id.desc())
            .offset(skip)
            .limit(limit)
        ).all()
        return int(total or 0), rows

    # -- validation history ------------------------------------------------------------

    def validation_days(self, license_id: str, since_day: str) -> Sequence[LicenseValidationDaily]:
        """The license's validation counts from `since_day` ("YYYY-MM-DD") on, newest day
        first, then by result code."""
        return self.session.scalars(
            select(LicenseValidationDaily)
            .where(
                LicenseValidationDaily.license_id == license_id,
                LicenseValidationDaily.day >= since_day,
            )
            .order_by(LicenseValidationDaily.day.desc(), LicenseValidationDaily.code)
        ).all()

    def add_validation_counts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add counts (license_id, day, code, account_id, count, last_at) to their rows,
        made when missing: one INSERT .. ON CONFLICT DO UPDATE for the batch (SQLite and
        PostgreSQL spell it alike), so flushes from several processes add up."""
        if rows:
            connection = self.session.connection()
            connection.execute(_ADD_VALIDATIONS[connection.dialect.name], list(rows))

    def existing_ids(self, license_ids: Sequence[str]) -> set[str]:
        """Which of these licenses still exist."""
        if not license_ids:
            return set()
        return set(self.session.scalars(select(License.id).where(License.id.in_(license_ids))))

    def key_exists(self, account_id: str, license_key: str) -> bool:
        found = self.session.scalar(
            select(License.id).where(
                License.account_id == account_id, License.license_key == license_key
            )
        )
        return found is not None

    def insert_many(self, licenses: Sequence[License]) -> None:
        """New licenses in one INSERT (executemany): not added to the session."""
        self._insert(License, licenses)

    def insert_events(self, events: Sequence[LicenseEvent]) -> None:
        self._insert(LicenseEvent, events)

    def _insert(self, model: type[Any], rows: Sequence[Any]) -> None:
        # A Core INSERT of the table: the group commit writes every batch this way, and the
        # ORM's bulk path cost a third of its writer thread (per-row bookkeeping).
        table, columns = _TABLE_COLUMNS[model]
        self.session.connection().execute(table.insert(), [_row(r, columns) for r in rows])

    # -- quota -------------------------------------------------------------------------

    def consume_quota(self, account_id: str, period: str, limit: int | None) -> int | None:
        """Count one license; the new count, or None if the limit is already reached.

        The row is created if missing (a no-op when it exists), then one UPDATE with the
        limit in its WHERE clause decides: concurrent callers, on one node or many, can
        never push the count past the limit.
        """
        return self._add_used(account_id, period, limit, 1)

    def consume_quota_many(
        self, account_id: str, period: str, limit: int | None, count: int
    ) -> tuple[int, ...]:
        """Count `count` licenses, as many as the limit leaves room for: the new count after
        each one granted, in order (fewer than `count`, or none, when the limit is reached).

        All at once by one conditional UPDATE when they all fit; else one at a time, each
        the same conditional UPDATE as `consume_quota`, until the limit refuses one.
        """
        last = self._add_used(account_id, period, limit, count)
        if last is not None:
            return tuple(range(last - count + 1, last + 1))
        granted: tuple[int, ...] = ()
        while len(granted) < count:
            used = self.consume_quota(account_id, period, limit)
            if used is None:
                break
            granted += (used,)
        return granted

    def _add_used(self, account_id: str, period: str, limit: int | None, count: int) -> int | None:
        """`used += count` if that stays within `limit` (None: no limit); the new count, or
        None when refused. Prebuilt Core statements: they run once or twice per batch."""
        connection = self.session.connection()
        params: dict[str, Any] = {"a": account_id, "p": period, "k": count}
        connection.execute(_ENSURE_USAGE[connection.dialect.name], params)
        if limit is None:
            row = connection.execute(_ADD_USED, params).first()
        else:
            row = connection.execute(_ADD_USED_WITHIN, {**params, "lim": limit}).first()
        return None if row is None else int(row[0])

    def quota_by_plan(self, period: str) -> Sequence[tuple[str, int, int, int, int]]:
        """Per plan, for `period`: (plan, accounts, licenses counted, licenses remaining
        over the accounts with a finite quota, accounts whose quota is spent). One
        aggregate query, whatever the number of accounts: the account's own limit when it
        has one, else its plan's (accounts.plans.effective_limits, in SQL)."""
        used = func.coalesce(LicenseUsage.used, 0)
        plan_default = case(
            {plan.value: limits.licenses_per_month for plan, limits in PLANS.items()},
            value=Account.plan,
            else_=None,
        )
        limit = case(
            (Account.licenses_unlimited.is_(True), None),
            (Account.licenses_per_month.is_not(None), Account.licenses_per_month),
            else_=plan_default,
        )
        remaining = case((limit.is_(None), 0), (used >= limit, 0), else_=limit - used)
        spent = case((limit.is_(None), 0), (used >= limit, 1), else_=0)
        rows = self.session.execute(
            select(
                Account.plan,
                func.count(),
                func.sum(used),
                func.sum(remaining),
                func.sum(spent),
            )
            .select_from(Account)
            .outerjoin(
                LicenseUsage,
                and_(LicenseUsage.account_id == Account.id, LicenseUsage.period == period),
            )
            .group_by(Account.plan)
        ).all()
        return [
            (str(plan), int(n or 0), int(u or 0), int(r or 0), int(x or 0))
            for plan, n, u, r, x in rows
        ]

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
        self, account_id: str, mode: str, *, include_retired: bool = False
    ) -> Sequence[SigningKey]:
        query = select(SigningKey).where(
            SigningKey.account_id == account_id, SigningKey.mode == mode
        )
        if not include_retired:
            query = query.where(
                or_(SigningKey.status == "active", SigningKey.status == "verify_only")
            )
        return self.session.scalars(query.order_by(SigningKey.created_at, SigningKey.kid)).all()

    def active_signing_key(self, account_id: str, mode: str) -> SigningKey | None:
        return self.session.scalar(
            select(SigningKey).where(SigningKey.active_for == active_slot(account_id, mode))
        )

    def signing_key(self, kid: str) -> SigningKey | None:
        return self.session.get(SigningKey, kid)

    def add_signing_key(self, key: SigningKey) -> None:
        self.session.add(key)


def _table_columns(model: type[Any]) -> tuple[Table, tuple[tuple[str, str], ...]]:
    """The model's table and its (attribute name, column key) pairs."""
    mapper = inspect(model)
    return mapper.local_table, tuple(
        (attr.key, attr.columns[0].key) for attr in mapper.column_attrs
    )


_TABLE_COLUMNS = {model: _table_columns(model) for model in (License, LicenseEvent)}


def _row(obj: Any, columns: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A new row's column values by column key, for a bulk INSERT (an unset autoincrement
    key left out, for the database to assign)."""
    values = {key: getattr(obj, attr) for attr, key in columns}
    if values.get("id", 0) is None:
        del values["id"]
    return values


_USAGE = type_cast(Table, LicenseUsage.__table__)
_THIS_ROW = (_USAGE.c.account_id == bindparam("a"), _USAGE.c.period == bindparam("p"))
_ADD_USED = (
    update(_USAGE)
    .where(*_THIS_ROW)
    .values(used=_USAGE.c.used + bindparam("k"))
    .returning(_USAGE.c.used)
)
_ADD_USED_WITHIN = _ADD_USED.where(_USAGE.c.used + bindparam("k") <= bindparam("lim"))
# The month's row, made if missing (a no-op when it exists), per dialect.
_ENSURE_USAGE = {
    name: upsert(_USAGE)
    .values(account_id=bindparam("a"), period=bindparam("p"), used=0)
    .on_conflict_do_nothing(index_elements=["account_id", "period"])
    for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


_DAILY = type_cast(Table, LicenseValidationDaily.__table__)


def _add_validations(upsert: Any) -> Any:
    statement = upsert(_DAILY).values(
        license_id=bindparam("license_id"),
        day=bindparam("day"),
        code=bindparam("code"),
        account_id=bindparam("account_id"),
        count=bindparam("count"),
        last_at=bindparam("last_at"),
    )
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["license_id", "day", "code"],
        set_={
            "count": _DAILY.c.count + new.count,
            # The later of the two (no GREATEST on SQLite, no MAX(a, b) on PostgreSQL).
            "last_at": case((new.last_at > _DAILY.c.last_at, new.last_at), else_=_DAILY.c.last_at),
        },
    )


_ADD_VALIDATIONS = {
    "postgresql": _add_validations(pg_insert),
    "sqlite": _add_validations(sqlite_insert),
}
