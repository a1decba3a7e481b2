from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from quantumlock.auth.models import ApiKey
from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import as_utc
from quantumlock.core.jsonvalue import json_value_problem

T = TypeVar("T")

# Labels, not data: small enough that a page of 1,000 keys stays a few megabytes at most.
MAX_METADATA_BYTES = 4 * 1024
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_value_problem(value, max_bytes=MAX_METADATA_BYTES)
    if problem:
        raise ValueError(f"metadata {problem}")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_storable),
    Field(
        description="Your own labels: a JSON object of at most 4 KiB (finite numbers, valid "
        "Unicode without NUL). Never used for authentication.",
    ),
]


class Envelope(BaseModel, Generic[T]):
    """`/api/v2` success bodies are `{"data": ...}`."""

    data: T


class RateLimitInfo(BaseModel):
    limit: int
    remaining: int
    reset_at: datetime


class SubjectOut(BaseModel):
    """Who an OAuth 2.0 access token acts for (quantumlock.identity)."""

    kind: Literal["user", "service_account", "client"]
    id: str = Field(description="The user (`usr_…`), else the client itself.")
    client_id: str = Field(description="The OAuth client (`client_…`) or service account.")
    token_expires_at: datetime


class MeOut(BaseModel):
    key_id: str = Field(description="The API key's id; for an access token, its client's id.")
    account_id: str
    type: Literal["live", "test", "restricted"] = Field(
        description="The key's type; for an access token, its mode."
    )
    mode: Literal["live", "test"]
    scopes: list[Scope]
    expires_at: datetime | None
    rate_limit: RateLimitInfo
    subject: SubjectOut | None = Field(
        default=None, description="Set for an OAuth 2.0 access token; null for an API key."
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    type: Literal["live", "test", "restricted"]
    mode: Literal["live", "test"]
    prefix: str = Field(description="Type prefix and a few characters; never the secret.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_row(cls, key: ApiKey) -> ApiKeyOut:
        def utc(value: datetime | None) -> datetime | None:
            return as_utc(value) if value is not None else None

        return cls(
            id=key.id,
            name=key.name,
            type=key.type,
            mode=key.mode,
            prefix=key.prefix,
            scopes=[Scope(s) for s in key.scopes],
            created_at=as_utc(key.created_at),
            last_used_at=utc(key.last_used_at),
            expires_at=utc(key.expires_at),
            revoked_at=utc(key.revoked_at),
            metadata=dict(key.meta or {}),
        )


class CreatedApiKeyOut(ApiKeyOut):
    key: str = Field(description="The full secret. Shown once; store it now.")


class RotatedApiKeyOut(CreatedApiKeyOut):
    rotated_from: str
    previous_key_expires_at: datetime


class KeyList(BaseModel):
    """One page of keys, newest first."""

    keys: list[ApiKeyOut]
    has_more: bool = Field(description="Whether another page follows this one.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class CreateKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(
        default=None,
        max_length=50,
        description="Default: every scope but `admin`. Never more than the calling key holds.",
    )
    expires_in: str | None = Field(default=None, max_length=16, examples=["90d", "12h", "1y"])
    type: Literal["live", "test", "restricted"] | None = None
    metadata: Metadata | None = None


class UpdateKeyIn(BaseModel):
    """The fields to change; an absent (or null) field stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(
        default=None,
        max_length=50,
        description="The key's new scopes: only ever fewer (400 if any would be gained, "
        "including through an implied scope).",
    )
    metadata: Metadata | None = Field(
        default=None, description="Replaces the whole object; `{}` clears it."
    )


class RotateKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: str = Field(default="24h", max_length=16, examples=["24h", "0s", "7d"])
