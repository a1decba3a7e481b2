"""Typed, immutable results. Unknown fields in responses are ignored (forward compatible)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def parse_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    text = str(value)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    # The server speaks UTC; an offset-less timestamp must not become a naive datetime that
    # cannot be compared with aware ones.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _required_datetime(value: Any) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    limit: int
    remaining: int
    reset_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateLimitInfo:
        return cls(int(data["limit"]), int(data["remaining"]), _required_datetime(data["reset_at"]))


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Whom an OAuth 2.0 access token acts for (`Me.subject`; None for an API key)."""

    kind: str  # user | service_account | client
    id: str  # the user (usr_…), else the client itself
    client_id: str
    token_expires_at: datetime | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSubject:
        return cls(
            kind=str(data["kind"]),
            id=str(data["id"]),
            client_id=str(data["client_id"]),
            token_expires_at=parse_datetime(data.get("token_expires_at")),
        )


@dataclass(frozen=True, slots=True)
class Me:
    key_id: str
    account_id: str
    type: str
    mode: str
    scopes: list[str]
    expires_at: datetime | None
    rate_limit: RateLimitInfo
    subject: TokenSubject | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Me:
        return cls(
            key_id=data["key_id"],
            account_id=data["account_id"],
            type=data["type"],
            mode=data["mode"],
            scopes=list(data["scopes"]),
            expires_at=parse_datetime(data.get("expires_at")),
            rate_limit=RateLimitInfo.from_dict(data["rate_limit"]),
            subject=TokenSubject.from_dict(data["subject"]) if data.get("subject") else None,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed, read or updated: never its secret (only `CreatedKey` has it).

    `metadata` is your own JSON labels (`keys.update(key_id, metadata=...)`).
    """

    id: str
    name: str
    type: str
    mode: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    # Keyword-only: it sits after fields without defaults in CreatedKey.
    metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": data["id"],
            "name": data["name"],
            "type": data["type"],
            "mode": data["mode"],
            "prefix": data["prefix"],
            "scopes": list(data["scopes"]),
            "created_at": _required_datetime(data["created_at"]),
            "last_used_at": parse_datetime(data.get("last_used_at")),
            "expires_at": parse_datetime(data.get("expires_at")),
            "revoked_at": parse_datetime(data.get("revoked_at")),
            "metadata": dict(data.get("metadata") or {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiKey:
        return cls(**cls._fields(data))


@dataclass(frozen=True, slots=True)
class CreatedKey(ApiKey):
    """A key as created or rotated: the only time its secret `key` is returned."""

    key: str = field(repr=False)
    rotated_from: str | None = None
    previous_key_expires_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatedKey:
        return cls(
            **cls._fields(data),
            key=data["key"],
            rotated_from=data.get("rotated_from"),
            previous_key_expires_at=parse_datetime(data.get("previous_key_expires_at")),
        )


class KeyPage(list[ApiKey]):
    """One page of `keys.list`, newest first: a list of `ApiKey`, plus `has_more` and
    `next_cursor` (pass it as `cursor=` for the next page). `keys.iter()` walks every page.
    """

    def __init__(
        self, keys: Iterable[ApiKey] = (), *, has_more: bool = False, next_cursor: str | None = None
    ) -> None:
        super().__init__(keys)
        self.has_more = has_more
        self.next_cursor = next_cursor

    @property
    def keys(self) -> list[ApiKey]:
        return list(self)

    def __repr__(self) -> str:
        return (
            f"KeyPage({list.__repr__(self)}, has_more={self.has_more!r}, "
            f"next_cursor={self.next_cursor!r})"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyPage:
        return cls(
            [ApiKey.from_dict(k) for k in data["keys"]],
            # An older server answers one unpaged list: no more to fetch.
            has_more=bool(data.get("has_more", False)),
            next_cursor=data.get("next_cursor"),
        )
