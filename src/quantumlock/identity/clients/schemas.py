"""Request and response shapes of /api/v2/oauth-clients and /api/v2/service-accounts.

Secrets appear only in the `Created…` and `Rotated…` answers (`client_secret`, once); every
other answer shows `secret_prefix` (like an API key's `prefix`: never usable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import as_utc
from quantumlock.identity.clients.service import DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS
from quantumlock.identity.models import ClientSecret, OAuthClient, ServiceAccount

OidcScope = Literal["openid", "profile", "email", "offline_access"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
IdTokenAlg = Literal["ES256", "RS256"]
# Shape checked by the service (quantumlock.identity.clients.validation); bounded here.
RedirectUri = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Field(min_length=1, max_length=100)


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class SecretOut(BaseModel):
    """A secret that works now: its prefix and dates, never the secret."""

    prefix: str
    created_at: datetime
    expires_at: datetime | None = Field(description="Set while it is in a rotation's grace.")


def _secrets(rows: Sequence[ClientSecret]) -> dict[str, Any]:
    listed = [
        SecretOut(prefix=s.prefix, created_at=as_utc(s.created_at), expires_at=_utc(s.expires_at))
        for s in rows
    ]
    return {"secret_prefix": listed[0].prefix if listed else None, "secrets": listed}


class OAuthClientOut(BaseModel):
    client_id: str
    name: str
    kind: Literal["confidential", "public"]
    mode: Literal["live", "test"]
    status: Literal["active", "disabled"]
    redirect_uris: list[str]
    grant_types: list[GrantType]
    scopes: list[Scope | OidcScope]
    token_endpoint_auth_method: AuthMethod
    jwks: dict[str, Any] | None = Field(description="Public keys (private_key_jwt only).")
    id_token_signed_response_alg: IdTokenAlg = Field(
        description="The algorithm its ID tokens are signed with."
    )
    secret_prefix: str | None = Field(
        description="The newest working secret's first characters; never usable. Null for "
        "clients without a secret (public, private_key_jwt)."
    )
    secrets: list[SecretOut] = Field(description="Working secrets, newest first.")
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, row: OAuthClient, secrets: Sequence[ClientSecret]) -> OAuthClientOut:
        return cls(
            client_id=row.id,
            name=row.name,
            kind=row.kind,
            mode=row.mode,
            status=row.status,
            redirect_uris=list(row.redirect_uris),
            grant_types=list(row.grant_types),
            scopes=list(row.scopes),
            token_endpoint_auth_method=row.token_endpoint_auth_method,
            jwks=row.jwks,
            id_token_signed_response_alg=row.id_token_signed_response_alg,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            disabled_at=_utc(row.disabled_at),
            **_secrets(secrets),
        )


class CreatedOAuthClientOut(OAuthClientOut):
    client_secret: str | None = Field(
        description="The secret, shown once: store it now. Null for clients without one."
    )


class ServiceAccountOut(BaseModel):
    client_id: str
    name: str
    mode: Literal["live", "test"]
    status: Literal["active", "disabled"]
    scopes: list[Scope]
    secret_prefix: str | None = Field(
        description="The newest working secret's first characters; never usable."
    )
    secrets: list[SecretOut] = Field(description="Working secrets, newest first.")
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: ServiceAccount, secrets: Sequence[ClientSecret]) -> ServiceAccountOut:
        return cls(
            client_id=row.id,
            name=row.name,
            mode=row.mode,
            status=row.status,
            scopes=[Scope(s) for s in row.scopes],
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            disabled_at=_utc(row.disabled_at),
            last_used_at=_utc(row.last_used_at),
            **_secrets(secrets),
        )


class CreatedServiceAccountOut(ServiceAccountOut):
    client_secret: str = Field(description="The secret, shown once: store it now.")


class RotatedOAuthClientOut(OAuthClientOut):
    client_secret: str = Field(description="The new secret, shown once: store it now.")
    previous_secrets_expire_at: datetime | None = Field(
        description="When the secrets that worked before stop working; null: they already "
        "stopped (grace_period 0, or there were none)."
    )


class RotatedServiceAccountOut(ServiceAccountOut):
    client_secret: str = Field(description="The new secret, shown once: store it now.")
    previous_secrets_expire_at: datetime | None = Field(
        description="When the secrets that worked before stop working; null: they already "
        "stopped (grace_period 0, or there were none)."
    )


class OAuthClientList(BaseModel):
    """One page, newest first."""

    oauth_clients: list[OAuthClientOut]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ServiceAccountList(BaseModel):
    """One page, newest first."""

    service_accounts: list[ServiceAccountOut]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


def _no_jwks_uri(data: Any) -> Any:
    if isinstance(data, dict) and "jwks_uri" in data:
        raise ValueError(
            "jwks_uri is not supported: give the public keys inline in `jwks` "
            "(the server fetches no URLs a tenant names)."
        )
    return data


_REDIRECTS: dict[str, Any] = dict(
    max_length=10,
    description="Absolute https URIs (http only for localhost, 127.0.0.1, [::1]), no "
    "fragment; matched exactly. At most 10.",
)
_SCOPES: dict[str, Any] = dict(
    min_length=1,
    max_length=60,
    description="API scopes (never more than the calling key holds) plus the OIDC scopes "
    "openid, profile, email, offline_access: the most its tokens may carry.",
)
_JWKS: dict[str, Any] = dict(
    description="private_key_jwt only: a JWK set of 1-5 public EC, RSA or OKP signing keys "
    "(no private members). Inline only: there is no jwks_uri, as the server fetches no URLs."
)

_ID_ALG: dict[str, Any] = dict(
    description="The algorithm of its ID tokens (OIDC Dynamic Client Registration's name): "
    "ES256 (default) or RS256, for relying parties that verify only RS256. Access tokens "
    "are ES256 either way."
)


class CreateOAuthClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    kind: Literal["confidential", "public"] = "confidential"
    redirect_uris: list[RedirectUri] = Field(default_factory=list, **_REDIRECTS)
    grant_types: list[GrantType] | None = Field(
        default=None,
        min_length=1,
        max_length=3,
        description="Default: authorization_code. Public clients cannot use client_credentials.",
    )
    scopes: list[Scope | OidcScope] | None = Field(default=None, **_SCOPES)
    token_endpoint_auth_method: AuthMethod | None = Field(
        default=None,
        description="Default: client_secret_basic (confidential), none (public, required).",
    )
    jwks: dict[str, Any] | None = Field(default=None, **_JWKS)
    mode: Literal["live", "test"] | None = Field(
        default=None, description="Default: the calling key's. A test key makes test ones."
    )
    id_token_signed_response_alg: IdTokenAlg | None = Field(default=None, **_ID_ALG)

    _check = model_validator(mode="before")(_no_jwks_uri)


class UpdateOAuthClientIn(BaseModel):
    """The fields to change; an absent (or null) field stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    redirect_uris: list[RedirectUri] | None = Field(default=None, **_REDIRECTS)
    grant_types: list[GrantType] | None = Field(default=None, min_length=1, max_length=3)
    scopes: list[Scope | OidcScope] | None = Field(default=None, **_SCOPES)
    jwks: dict[str, Any] | None = Field(default=None, **_JWKS)
    id_token_signed_response_alg: IdTokenAlg | None = Field(default=None, **_ID_ALG)

    _check = model_validator(mode="before")(_no_jwks_uri)


class CreateServiceAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=50,
        description="Exactly what its tokens carry; never more than the calling key holds.",
    )
    mode: Literal["live", "test"] | None = Field(
        default=None, description="Default: the calling key's. A test key makes test ones."
    )


class UpdateServiceAccountIn(BaseModel):
    """The fields to change; an absent (or null) field stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Its new scopes (within the calling key's); its tokens narrow at once.",
    )


class RotateSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: int = Field(
        default=DEFAULT_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="Seconds the secrets that work now keep working (default 86400 = 24 h, "
        "at most 604800 = 7 days); 0 ends them now.",
    )
