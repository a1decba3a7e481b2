"""The account's users (/api/v2/users, scope `admin`): models, what each call sends, and the
`client.users` resource twins (sync and async share the operations)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from qcos._models import _required_datetime, parse_datetime
from qcos._operations import Operation, _no_content, _segment, _without_none

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client

Role = Literal["owner", "admin", "member", "viewer"]
USERS = "/api/v2/users"


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in. Never carries a password hash, TOTP secret or token."""

    id: str
    account_id: str
    email: str
    name: str
    role: str
    status: str  # active | disabled
    has_password: bool
    totp_enabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            email=data["email"],
            name=data.get("name") or "",
            role=data["role"],
            status=data["status"],
            has_password=bool(data["has_password"]),
            totp_enabled=bool(data["totp_enabled"]),
            locked_until=parse_datetime(data.get("locked_until")),
            last_login_at=parse_datetime(data.get("last_login_at")),
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data["updated_at"]),
            disabled_at=parse_datetime(data.get("disabled_at")),
        )


@dataclass(frozen=True, slots=True)
class CreatedUser:
    """`users.create`'s answer: the user and, when no password was given, the one-time
    set-password link (shown once: hand it to the user)."""

    user: User
    set_password_url: str | None
    set_password_expires_at: datetime | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatedUser:
        return cls(
            user=User.from_dict(data),
            set_password_url=data.get("set_password_url"),
            set_password_expires_at=parse_datetime(data.get("set_password_expires_at")),
        )


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserPage:
        return cls(
            users=[User.from_dict(u) for u in data["users"]],
            has_more=bool(data["has_more"]),
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class UserSession:
    """A sign-in session (never its token)."""

    id: str
    method: str
    mfa: bool
    address: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserSession:
        return cls(
            id=data["id"],
            method=data["method"],
            mfa=bool(data["mfa"]),
            address=data.get("address"),
            user_agent=data.get("user_agent"),
            created_at=_required_datetime(data["created_at"]),
            last_seen_at=_required_datetime(data["last_seen_at"]),
            expires_at=_required_datetime(data["expires_at"]),
        )


@dataclass(frozen=True, slots=True)
class PasswordLink:
    user_id: str
    url: str  # one-time, 24 h: shown once
    expires_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PasswordLink:
        return cls(data["user_id"], data["url"], _required_datetime(data["expires_at"]))


# -- operations --------------------------------------------------------------------------------


def _user_path(user_id: str, *rest: str) -> str:
    return "/".join((USERS, _segment(user_id), *rest))


def list_users(cursor: str | None, limit: int | None) -> Operation[UserPage]:
    params = _without_none(cursor=cursor, limit=limit)
    return Operation("GET", USERS, UserPage.from_dict, params=params)


def get_user(user_id: str) -> Operation[User]:
    return Operation("GET", _user_path(user_id), User.from_dict)


def create_user(
    email: str, role: str, name: str | None, password: str | None
) -> Operation[CreatedUser]:
    body = _without_none(email=email, role=role, name=name, password=password)
    return Operation("POST", USERS, CreatedUser.from_dict, json=body, keyed=True)


def update_user(user_id: str, name: str | None, role: str | None) -> Operation[User]:
    body = _without_none(name=name, role=role)
    return Operation("PATCH", _user_path(user_id), User.from_dict, json=body)


def set_status(user_id: str, action: str) -> Operation[User]:
    return Operation("POST", _user_path(user_id, action), User.from_dict, keyed=True)


def delete_user(user_id: str) -> Operation[None]:
    return Operation("DELETE", _user_path(user_id), _no_content)


def list_sessions(user_id: str) -> Operation[list[UserSession]]:
    def parse(data: dict[str, Any]) -> list[UserSession]:
        return [UserSession.from_dict(s) for s in data["sessions"]]

    return Operation("GET", _user_path(user_id, "sessions"), parse)


def revoke_sessions(user_id: str, session_id: str | None) -> Operation[int]:
    if session_id is not None:
        path = _user_path(user_id, "sessions", _segment(session_id))
        return Operation("DELETE", path, lambda _: 1)
    return Operation("DELETE", _user_path(user_id, "sessions"), lambda data: int(data["revoked"]))


def password_link(user_id: str) -> Operation[PasswordLink]:
    path = _user_path(user_id, "password-link")
    return Operation("POST", path, PasswordLink.from_dict, keyed=True)


# -- resources ---------------------------------------------------------------------------------


class Users:
    """`client.users`: the account's users (scope `admin`; a live or a test key manages the
    same users: they belong to the account, not to a mode)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, *, cursor: str | None = None, limit: int | None = None) -> UserPage:
        """One page, newest first; pass `next_cursor` as `cursor` for the next."""
        return self._client._run(list_users(cursor, limit))

    def iter(self, *, page_size: int = 100) -> Iterator[User]:
        """Every user, page by page as you go."""
        cursor: str | None = None
        while True:
            page = self.list(cursor=cursor, limit=page_size)
            yield from page.users
            if not page.has_more:
                return
            cursor = page.next_cursor

    def get(self, user_id: str) -> User:
        return self._client._run(get_user(user_id))

    def create(
        self, email: str, role: Role, *, name: str | None = None, password: str | None = None
    ) -> CreatedUser:
        """Without `password`, the answer's `set_password_url` is a one-time link (24 h).
        ConflictError if the email is taken; ValidationError for a weak password."""
        return self._client._run(create_user(email, role, name, password))

    def update(self, user_id: str, *, name: str | None = None, role: Role | None = None) -> User:
        return self._client._run(update_user(user_id, name, role))

    def disable(self, user_id: str) -> User:
        return self._client._run(set_status(user_id, "disable"))

    def enable(self, user_id: str) -> User:
        return self._client._run(set_status(user_id, "enable"))

    def delete(self, user_id: str) -> None:
        self._client._run(delete_user(user_id))

    def sessions(self, user_id: str) -> builtins.list[UserSession]:
        return self._client._run(list_sessions(user_id))

    def revoke_sessions(self, user_id: str, *, session_id: str | None = None) -> int:
        """End one session (`session_id`) or all of them; how many were ended."""
        return self._client._run(revoke_sessions(user_id, session_id))

    def password_link(self, user_id: str) -> PasswordLink:
        """A one-time reset link (24 h, single use); an earlier unused one stops working."""
        return self._client._run(password_link(user_id))


class AsyncUsers:
    """`async_client.users`: the awaitable twin of `Users`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, cursor: str | None = None, limit: int | None = None) -> UserPage:
        return await self._client._run(list_users(cursor, limit))

    async def iter(self, *, page_size: int = 100) -> AsyncIterator[User]:
        cursor: str | None = None
        while True:
            page = await self.list(cursor=cursor, limit=page_size)
            for user in page.users:
                yield user
            if not page.has_more:
                return
            cursor = page.next_cursor

    async def get(self, user_id: str) -> User:
        return await self._client._run(get_user(user_id))

    async def create(
        self, email: str, role: Role, *, name: str | None = None, password: str | None = None
    ) -> CreatedUser:
        return await self._client._run(create_user(email, role, name, password))

    async def update(
        self, user_id: str, *, name: str | None = None, role: Role | None = None
    ) -> User:
        return await self._client._run(update_user(user_id, name, role))

    async def disable(self, user_id: str) -> User:
        return await self._client._run(set_status(user_id, "disable"))

    async def enable(self, user_id: str) -> User:
        return await self._client._run(set_status(user_id, "enable"))

    async def delete(self, user_id: str) -> None:
        await self._client._run(delete_user(user_id))

    async def sessions(self, user_id: str) -> builtins.list[UserSession]:
        return await self._client._run(list_sessions(user_id))

    async def revoke_sessions(self, user_id: str, *, session_id: str | None = None) -> int:
        return await self._client._run(revoke_sessions(user_id, session_id))

    async def password_link(self, user_id: str) -> PasswordLink:
        return await self._client._run(password_link(user_id))


__all__ = [
    "AsyncUsers",
    "CreatedUser",
    "PasswordLink",
    "Role",
    "User",
    "UserPage",
    "UserSession",
    "Users",
]
