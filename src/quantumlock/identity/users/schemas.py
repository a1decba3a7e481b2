"""Request and response shapes of /api/v2/users. Never a password hash, a TOTP secret
(except once, at enrolment) or a token hash."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantumlock.core.clock import as_utc
from quantumlock.identity.models import User, UserSession

RoleName = Literal["owner", "admin", "member", "viewer"]
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class UserOut(BaseModel):
    id: str
    account_id: str
    email: str
    name: str
    role: RoleName
    status: Literal["active", "disabled"]
    has_password: bool = Field(description="False until the user sets one (one-time link).")
    totp_enabled: bool = Field(description="Two-factor authentication (TOTP) is on.")
    locked_until: datetime | None = Field(
        description="Set while sign-in is locked after repeated failures."
    )
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            account_id=user.account_id,
            email=user.email,
            name=user.name,
            role=user.role,
            status=user.status,
            has_password=user.password_hash is not None,
            totp_enabled=user.totp_enabled_at is not None,
            locked_until=_utc(user.locked_until),
            last_login_at=_utc(user.last_login_at),
            created_at=as_utc(user.created_at),
            updated_at=as_utc(user.updated_at),
            disabled_at=_utc(user.disabled_at),
        )


class CreatedUserOut(UserOut):
    set_password_url: str | None = Field(
        description="When no password was given: the one-time link (24 h) where the user sets "
        "one. Shown once; send it to the user over a channel you trust."
    )
    set_password_expires_at: datetime | None


class UserList(BaseModel):
    """One page of users, newest first."""

    users: list[UserOut]
    has_more: bool = Field(description="Whether another page follows this one.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class CreateUserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, examples=["ada@example.com"])
    role: RoleName
    name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Optional: at least 12 characters, two kinds of characters, not a common "
        "password, not containing the email's local part. Without it, the answer holds a "
        "one-time set-password link.",
    )


class UpdateUserIn(BaseModel):
    """The fields to change; an absent (or null) field stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    role: RoleName | None = None


class PasswordLinkOut(BaseModel):
    user_id: str
    url: str = Field(description="The one-time link (24 h, single use). Shown once.")
    expires_at: datetime


class SessionOut(BaseModel):
    id: str
    method: str
    mfa: bool
    address: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: UserSession) -> SessionOut:
        return cls(
            id=row.id,
            method=row.method,
            mfa=row.mfa,
            address=row.address,
            user_agent=row.user_agent,
            created_at=as_utc(row.created_at),
            last_seen_at=as_utc(row.last_seen_at),
            expires_at=as_utc(row.expires_at),
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]


class RevokedSessionsOut(BaseModel):
    revoked: int = Field(description="How many live sessions were ended.")


class TotpStartOut(BaseModel):
    secret: str = Field(description="The base32 TOTP secret. Shown once.")
    provisioning_uri: str = Field(description="otpauth:// URI for an authenticator app (QR).")


class TotpConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    totp_code: str = Field(
        min_length=6, max_length=6, pattern=r"^[0-9]{6}$", description="A current code."
    )


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(
        description="10 single-use codes for when the authenticator is lost. Shown once."
    )
