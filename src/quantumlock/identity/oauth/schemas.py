"""The provider's request and response shapes, for the OpenAPI document (RFC 6749 §5,
RFC 7009, RFC 7662, OIDC Core §5.3, RFC 8414). Bodies come in as forms and are parsed by the
endpoints; these models describe them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "invalid_token",
    "insufficient_scope",
    "temporarily_unavailable",
]


class OAuthError(BaseModel):
    """An OAuth 2.0 error (RFC 6749 §5.2, RFC 6750 §3.1): every error under /oauth."""

    error: OAuthErrorCode
    error_description: str | None = None
    error_uri: str | None = None


class TokenOut(BaseModel):
    """RFC 6749 §5.1: `refresh_token` and `id_token` only where the README says."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None


class TokenRequest(BaseModel):
    """`/oauth/token` form fields (client_credentials also takes them as a JSON object)."""

    grant_type: Literal["authorization_code", "refresh_token", "client_credentials"]
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None


class TokenTargetRequest(BaseModel):
    """`/oauth/revoke` and `/oauth/introspect` form fields (RFC 7009 §2.1, RFC 7662 §2.1)."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None
    client_id: str | None = None
    client_secret: str | None = None


class RevokedOut(BaseModel):
    """RFC 7009 §2.2: an empty body, also for a token that was unknown or already dead."""

    model_config = ConfigDict(extra="forbid")


class IntrospectionOut(BaseModel):
    """RFC 7662 §2.2: `{"active": false}` alone for anything not live and yours."""

    active: bool
    token_type: Literal["access_token", "refresh_token"] | None = None
    client_id: str | None = None
    scope: str | None = None
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None


class UserInfoOut(BaseModel):
    """OIDC Core §5.3.2: `email`/`email_verified` with scope email, `name` with profile."""

    sub: str
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None


class JwksOut(BaseModel):
    """The public keys that verify ID tokens and access tokens (RFC 7517)."""

    keys: list[dict[str, Any]]


class MetadataOut(BaseModel):
    """RFC 8414 / OpenID Connect Discovery 1.0 provider metadata."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    userinfo_endpoint: str | None = None
    scopes_supported: list[str]
    response_types_supported: list[str]
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]
    subject_types_supported: list[str] | None = None
    id_token_signing_alg_values_supported: list[str] | None = None
    claims_supported: list[str] | None = Field(default=None)


# -- for the routes' OpenAPI declarations


def oauth_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, "
        "invalid_scope or unsupported_token_type (RFC 6749 §5.2)",
        401: "invalid_client (with WWW-Authenticate: Basic when the client used it), or "
        "invalid_token (WWW-Authenticate: Bearer)",
        403: "insufficient_scope: the token does not carry `openid`",
        429: "temporarily_unavailable: too many token requests from this client or address; "
        "wait Retry-After seconds",
    }
    return {s: {"model": OAuthError, "description": meaning[s]} for s in statuses}


def form_body(model: type[Any], *, json_too: bool = False) -> dict[str, Any]:
    schema = model.model_json_schema()
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    if json_too:
        content["application/json"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}
