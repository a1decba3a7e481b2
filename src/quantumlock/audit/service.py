"""Audit-trail rules: what a key may see, the event types, and the opaque cursor."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import orjson
from sqlalchemy.orm import Session

from quantumlock.audit.repository import (
    API_KEY,
    IDENTITY,
    LICENSE,
    SOURCES,
    AuditRepository,
    AuditRow,
    Position,
)
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc, isoformat
from quantumlock.core.errors import ValidationFailed
from quantumlock.identity.events import IDENTITY_EVENT_TYPES, IdentityEventType

# Every event type the trail records: `<object>.<action>` (the API's enum is these Literals).
_OwnEventType = Literal[
    "license.generate",
    "license.revoke",
    "license.suspend",
    "license.reinstate",
    "license.renew",
    "api_key.create",
    "api_key.revoke",
    "api_key.rotate",
    "api_key.update",
]
# Sign-ins, lock-outs, tokens, user / client / service-account changes (quantumlock.identity).
EventType = _OwnEventType | IdentityEventType
EVENT_TYPES: tuple[str, ...] = get_args(_OwnEventType) + IDENTITY_EVENT_TYPES
MODES = ("live", "test")


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditRow]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def encode_cursor(row: AuditRow) -> str:
    raw = orjson.dumps([isoformat(row.at), row.source, row.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """A cursor this service wrote; anything else is a 400, never a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, source, ident = orjson.loads(raw)
        # Ids are 64-bit row ids: a larger one reaches no database, and SQLite's driver
        # raises on it.
        if source not in SOURCES or type(ident) is not int or not 0 < ident < 2**63:
            raise ValueError
        return Position(as_utc(datetime.fromisoformat(at)), source, ident)
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
        raise ValidationFailed(
            "cursor: not a cursor from a previous page (use its next_cursor as it is)."
        ) from None


def _actions(types: Collection[str] | None) -> dict[str, Collection[str] | None]:
    """Per source, the actions asked for (None: all); a source no type names is left out."""
    if not types:
        return {LICENSE: None, API_KEY: None, IDENTITY: None}
    out: dict[str, set[str]] = {}
    for event_type in types:
        if event_type not in EVENT_TYPES:
            raise ValidationFailed(f"type: one of {', '.join(EVENT_TYPES)}.")
        if event_type in IDENTITY_EVENT_TYPES:  # stored whole, in identity_events
            out.setdefault(IDENTITY, set()).add(event_type)
            continue
        source, _, action = event_type.partition(".")
        out.setdefault(source, set()).add(action)
    return dict(out)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 has no UTC time
        raise ValidationFailed(f"{name}: out of range.") from None


class AuditService:
    def __init__(self, session: Session) -> None:
        self.repo = AuditRepository(session)

    def page(
        self,
        caller: Actor,
        *,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
        actor: str | None = None,
    ) -> AuditPage:
        """The caller's account's events, newest first. A test key sees the test mode's
        licenses and keys only; a live key the live mode's licenses and every key of the
        account (it manages them all, test-mode keys included). `actor`: only what this
        actor id (`key_…`, `usr_…`, `client_…`, `service_…`, `cli`) did."""
        after = decode_cursor(cursor) if cursor else None
        rows = self.repo.page(
            caller.account_id,
            license_mode=caller.mode,
            key_modes=("test",) if caller.is_test else MODES,
            actions=_actions(types),
            since=_utc(since, "since"),
            until=_utc(until, "until"),
            after=after,
            limit=limit + 1,
            actor=actor or None,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage(rows, encode_cursor(rows[-1]) if more and rows else None)
