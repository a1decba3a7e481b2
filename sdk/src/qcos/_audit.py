"""The audit trail: a license's lifecycle events (/api/v1) and the account's audit trail
(/api/v2/audit): models, what each call sends, and the `client.audit` resource twins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from qcos._models import _required_datetime
from qcos._operations import Operation, _license_path, _without_none

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client

AuditEventType = Literal[
    "license.generate",
    "license.revoke",
    "license.suspend",
    "license.reinstate",
    "license.renew",
    "api_key.create",
    "api_key.revoke",
    "api_key.rotate",
    "api_key.update",
    # identity: users, sign-ins, OAuth clients, service accounts, tokens
    "user.create",
    "user.update",
    "user.disable",
    "user.enable",
    "user.delete",
    "user.password_set",
    "user.totp_enable",
    "user.totp_disable",
    "user.login",
    "user.login_failed",
    "user.locked",
    "user.logout",
    "session.revoke",
    "oauth_client.create",
    "oauth_client.update",
    "oauth_client.rotate_secret",
    "oauth_client.disable",
    "oauth_client.enable",
    "oauth_client.delete",
    "service_account.create",
    "service_account.update",
    "service_account.rotate_secret",
    "service_account.disable",
    "service_account.enable",
    "service_account.delete",
    "token.grant",
    "token.refresh",
    "token.refresh_reuse",
    "token.code_reuse",
    "token.revoke",
    "token.client_auth_failed",
]


@dataclass(frozen=True, slots=True)
class LicenseEvent:
    """One lifecycle change of a license: `action` is generate, revoke, suspend, reinstate
    or renew; `key_id` the API key that acted (or the CLI operator); `detail` what changed."""

    id: int
    type: str
    action: str
    key_id: str
    at: datetime
    detail: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseEvent:
        return cls(
            id=int(data["id"]),
            type=data["type"],
            action=data["action"],
            key_id=data["key_id"],
            at=_required_datetime(data["at"]),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True, slots=True)
class LicenseEventPage:
    """One page of `licenses.events`, newest first; `total` counts them all."""

    total: int
    skip: int
    limit: int
    events: list[LicenseEvent]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseEventPage:
        return cls(
            total=int(data["total"]),
            skip=int(data["skip"]),
            limit=int(data["limit"]),
            events=[LicenseEvent.from_dict(e) for e in data["events"]],
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event of the account's audit trail. `type` is `license.<action>`,
    `api_key.<action>` or an identity event (`user.login`, `user.locked`, …); `object_id`
    the license (`lic_…`), API key (`key_…`) or user (`usr_…`) it concerns; `license_key` is
    set for license events; `actor_key_id` is who acted; `address` where they acted from."""

    id: str
    type: str
    at: datetime
    actor_key_id: str
    mode: str
    object_type: str
    object_id: str
    license_key: str | None
    detail: dict[str, Any]
    address: str | None = None  # the client's address, where known (identity events)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        return cls(
            id=data["id"],
            type=data["type"],
            at=_required_datetime(data["at"]),
            actor_key_id=data["actor_key_id"],
            mode=data["mode"],
            object_type=data["object_type"],
            object_id=data["object_id"],
            license_key=data.get("license_key"),
            detail=dict(data.get("detail") or {}),
            address=data.get("address"),
        )


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of `audit.list`, newest first: pass `next_cursor` as `cursor` for the next
    one while `has_more` (or let `audit.iter` do it)."""

    events: list[AuditEvent]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditPage:
        return cls(
            events=[AuditEvent.from_dict(e) for e in data["events"]],
            has_more=bool(data["has_more"]),
            next_cursor=data.get("next_cursor"),
        )


def license_events(
    license_key: str, skip: int | None, limit: int | None
) -> Operation[LicenseEventPage]:
    # Left out, the server's own defaults apply (skip 0, limit 50).
    params = {name: v for name, v in (("skip", skip), ("limit", limit)) if v is not None}
    return Operation(
        "GET",
        _license_path(license_key, "events"),
        LicenseEventPage.from_dict,
        params=params,
        unwrap=False,
    )


def _instant(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def list_audit(
    types: Sequence[str] | None,
    since: datetime | str | None,
    until: datetime | str | None,
    cursor: str | None,
    limit: int,
) -> Operation[AuditPage]:
    params = _without_none(
        type=list(types) if types else None,
        since=_instant(since),
        until=_instant(until),
        cursor=cursor,
        limit=limit,
    )
    return Operation("GET", "/api/v2/audit", AuditPage.from_dict, params=params)


class Audit:
    """`client.audit`: the account's audit trail (scope `admin`)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        *,
        types: Sequence[AuditEventType] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """One page, newest first. `types` keeps only those event types; `since` (at or
        after) and `until` (before) bound the time. A test-mode key sees test-mode events.

        Raises PermissionDeniedError without `admin`, ValidationError for a bad cursor."""
        return self._client._run(list_audit(types, since, until, cursor, limit))

    def iter(
        self,
        *,
        types: Sequence[AuditEventType] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        page_size: int = 200,
    ) -> Iterator[AuditEvent]:
        """Every matching event, newest first, fetched page by page as you go."""
        cursor: str | None = None
        while True:
            page = self.list(types=types, since=since, until=until, cursor=cursor, limit=page_size)
            yield from page.events
            if not page.has_more:
                return
            cursor = page.next_cursor


class AsyncAudit:
    """`async_client.audit`: the awaitable twin of `Audit`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        *,
        types: Sequence[AuditEventType] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        return await self._client._run(list_audit(types, since, until, cursor, limit))

    async def iter(
        self,
        *,
        types: Sequence[AuditEventType] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        page_size: int = 200,
    ) -> AsyncIterator[AuditEvent]:
        cursor: str | None = None
        while True:
            page = await self.list(
                types=types, since=since, until=until, cursor=cursor, limit=page_size
            )
            for event in page.events:
                yield event
            if not page.has_more:
                return
            cursor = page.next_cursor


__all__ = [
    "AsyncAudit",
    "Audit",
    "AuditEvent",
    "AuditEventType",
    "AuditPage",
    "LicenseEvent",
    "LicenseEventPage",
]
