"""All SQL for the audit trail: one UNION ALL over the domains' event tables, keyset-paged.

Each domain records its own events in its own table, in the unit of work of the change
(licensing: license_events; auth: api_key_events; identity: identity_events). This reads
them as one stream, newest first, ordered by (at, source, id): `at` is when, `source` and
`id` break ties, so a cursor names one place in the stream exactly.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, literal_column, null, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from quantumlock.auth.models import ApiKeyEvent
from quantumlock.identity.models import IdentityEvent
from quantumlock.licensing.models import License, LicenseEvent

LICENSE = "license"
API_KEY = "api_key"
IDENTITY = "identity"  # its `action` is the whole event type (`user.login`)
SOURCES = (LICENSE, API_KEY, IDENTITY)


@dataclass(frozen=True, slots=True)
class AuditRow:
    source: str  # license | api_key | identity
    id: int
    at: datetime
    action: str
    actor_key_id: str
    mode: str
    object_id: str
    license_key: str | None
    detail: dict[str, Any]
    address: str | None  # the client's address (identity events)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ends: the last row's (at, source, id)."""

    at: datetime
    source: str
    id: int


def _license_events(account_id: str, mode: str, actions: Collection[str] | None) -> Select[Any]:
    query = (
        select(
            literal_column(f"'{LICENSE}'", String).label("source"),
            LicenseEvent.id.label("id"),
            LicenseEvent.at.label("at"),
            LicenseEvent.action.label("action"),
            LicenseEvent.key_id.label("actor_key_id"),
            License.mode.label("mode"),
            LicenseEvent.license_id.label("object_id"),
            License.license_key.label("license_key"),
            LicenseEvent.detail.label("detail"),
            cast(null(), String(64)).label("address"),
        )
        .join(License, License.id == LicenseEvent.license_id)
        .where(LicenseEvent.account_id == account_id, License.mode == mode)
    )
    if actions is not None:
        query = query.where(LicenseEvent.action.in_(actions))
    return query


def _key_events(
    account_id: str, modes: Collection[str], actions: Collection[str] | None
) -> Select[Any]:
    query = select(
        literal_column(f"'{API_KEY}'", String).label("source"),
        ApiKeyEvent.id.label("id"),
        ApiKeyEvent.at.label("at"),
        ApiKeyEvent.action.label("action"),
        ApiKeyEvent.actor_key_id.label("actor_key_id"),
        ApiKeyEvent.mode.label("mode"),
        ApiKeyEvent.api_key_id.label("object_id"),
        cast(null(), String(32)).label("license_key"),
        ApiKeyEvent.detail.label("detail"),
        cast(null(), String(64)).label("address"),
    ).where(ApiKeyEvent.account_id == account_id, ApiKeyEvent.mode.in_(modes))
    if actions is not None:
        query = query.where(ApiKeyEvent.action.in_(actions))
    return query


def _identity_events(
    account_id: str, modes: Collection[str], actions: Collection[str] | None
) -> Select[Any]:
    query = select(
        literal_column(f"'{IDENTITY}'", String).label("source"),
        IdentityEvent.id.label("id"),
        IdentityEvent.at.label("at"),
        IdentityEvent.action.label("action"),
        IdentityEvent.actor_id.label("actor_key_id"),
        IdentityEvent.mode.label("mode"),
        IdentityEvent.object_id.label("object_id"),
        cast(null(), String(32)).label("license_key"),
        IdentityEvent.detail.label("detail"),
        IdentityEvent.address.label("address"),
    ).where(IdentityEvent.account_id == account_id, IdentityEvent.mode.in_(modes))
    if actions is not None:
        query = query.where(IdentityEvent.action.in_(actions))
    return query


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def page(
        self,
        account_id: str,
        *,
        license_mode: str,
        key_modes: Collection[str],
        actions: dict[str, Collection[str] | None],
        since: datetime | None,
        until: datetime | None,
        after: Position | None,
        limit: int,
        actor: str | None = None,
    ) -> list[AuditRow]:
        """Up to `limit` events, newest first, after `after`. `actions`: per source, the
        actions wanted (None: all); a source left out is not read at all. `actor`: only
        the events of this actor (a key, user, client or service account id)."""
        parts: list[Select[Any]] = []
        if LICENSE in actions:
            parts.append(_license_events(account_id, license_mode, actions[LICENSE]))
        if API_KEY in actions:
            parts.append(_key_events(account_id, key_modes, actions[API_KEY]))
        if IDENTITY in actions:
            parts.append(_identity_events(account_id, key_modes, actions[IDENTITY]))
        if not parts:
            return []
        stream = (parts[0] if len(parts) == 1 else parts[0].union_all(*parts[1:])).subquery()
        c = stream.c
        query = select(stream)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        if actor is not None:
            query = query.where(c.actor_key_id == actor)
        if after is not None:
            query = query.where(
                or_(
                    c.at < after.at,
                    and_(
                        c.at == after.at,
                        or_(
                            c.source < after.source, and_(c.source == after.source, c.id < after.id)
                        ),
                    ),
                )
            )
        query = query.order_by(c.at.desc(), c.source.desc(), c.id.desc()).limit(limit)
        return [AuditRow(**row._mapping) for row in self.session.execute(query)]
