from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from quantumlock.auth.models import ApiKey
from quantumlock.core.clock import as_utc

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """`/api/v2` success bodies are `{"data": ...}`."""

    data: T


class RateLimitInfo(BaseModel):
    limit: int
    remaining: int
    reset_at: datetime


class MeOut(BaseModel):
    key_id: str
    account_id: str
    type: Literal["live", "test", "restricted"]
    mode: Literal["live", "test"]
    scopes: list[str]
    expires_at: datetime | None
    rate_limit: RateLimitInfo


class ApiKeyOut(BaseModel):
    id: str
    name: str
    type: Literal["live", "test", "restricted"]
    mode: Literal["live", "test"]
    prefix: str = Field(description="Type prefix and a few characters; never the secret.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

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
            scopes=list(key.scopes),
            created_at=as_utc(key.created_at),
            last_used_at=utc(key.last_used_at),
            expires_at=utc(key.expires_at),
            revoked_at=utc(key.revoked_at),
        )


class CreatedApiKeyOut(ApiKeyOut):
    key: str = Field(description="The full secret. Shown once; store it now.")


class RotatedApiKeyOut(CreatedApiKeyOut):
    rotated_from: str
    previous_key_expires_at: datetime


class KeyList(BaseModel):
    keys: list[ApiKeyOut]


class CreateKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=50)
    expires_in: str | None = Field(default=None, max_length=16, examples=["90d", "12h", "1y"])
    type: Literal["live", "test", "restricted"] | None = None


class RotateKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: str = Field(default="24h", max_length=16, examples=["24h", "0s", "7d"])
