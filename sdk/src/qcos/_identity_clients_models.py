"""OAuth clients and service accounts (/api/v2/oauth-clients, /api/v2/service-accounts):
typed results and what each call sends, shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias, TypeVar

from qcos._models import _required_datetime, parse_datetime
from qcos._operations import Operation, _no_content, _segment, _without_none

GrantType: TypeAlias = Literal["authorization_code", "refresh_token", "client_credentials"]
AuthMethod: TypeAlias = Literal[
    "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
]
IdTokenAlg: TypeAlias = Literal["ES256", "RS256"]
T = TypeVar("T")
OAUTH_CLIENTS = "/api/v2/oauth-clients"
SERVICE_ACCOUNTS = "/api/v2/service-accounts"


@dataclass(frozen=True, slots=True)
class ClientSecretInfo:
    """A secret that works now: its first characters and dates, never the secret."""

    prefix: str
    created_at: datetime
    expires_at: datetime | None  # set while it is in a rotation's grace period

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClientSecretInfo:
        return cls(
            prefix=data["prefix"],
            created_at=_required_datetime(data["created_at"]),
            expires_at=parse_datetime(data.get("expires_at")),
        )


def _common(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": data["client_id"],
        "name": data["name"],
        "mode": data["mode"],
        "status": data["status"],
        "scopes": list(data["scopes"]),
        "secret_prefix": data.get("secret_prefix"),
        "secrets": [ClientSecretInfo.from_dict(s) for s in data.get("secrets") or []],
        "created_at": _required_datetime(data["created_at"]),
        "updated_at": _required_datetime(data["updated_at"]),
        "disabled_at": parse_datetime(data.get("disabled_at")),
    }


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """An OAuth client as listed or read: never its secret (see `CreatedOAuthClient`)."""

    client_id: str
    name: str
    mode: str
    status: str
    scopes: list[str]
    secret_prefix: str | None
    secrets: list[ClientSecretInfo]
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    kind: str
    redirect_uris: list[str]
    grant_types: list[str]
    token_endpoint_auth_method: str
    jwks: dict[str, Any] | None
    id_token_signed_response_alg: str  # ES256 | RS256: what its ID tokens are signed with

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            **_common(data),
            "kind": data["kind"],
            "redirect_uris": list(data["redirect_uris"]),
            "grant_types": list(data["grant_types"]),
            "token_endpoint_auth_method": data["token_endpoint_auth_method"],
            "jwks": data.get("jwks"),
            # A server from before the setting signed every ID token ES256.
            "id_token_signed_response_alg": data.get("id_token_signed_response_alg", "ES256"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OAuthClient:
        return cls(**cls._fields(data))


@dataclass(frozen=True, slots=True)
class CreatedOAuthClient(OAuthClient):
    """As created or rotated: the only time `client_secret` is returned (None for clients
    without one: public, private_key_jwt)."""

    client_secret: str | None = field(default=None, repr=False)
    previous_secrets_expire_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatedOAuthClient:
        return cls(
            **cls._fields(data),
            client_secret=data.get("client_secret"),
            previous_secrets_expire_at=parse_datetime(data.get("previous_secrets_expire_at")),
        )


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service account as listed or read: never its secret."""

    client_id: str
    name: str
    mode: str
    status: str
    scopes: list[str]
    secret_prefix: str | None
    secrets: list[ClientSecretInfo]
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    last_used_at: datetime | None = None

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**_common(data), "last_used_at": parse_datetime(data.get("last_used_at"))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceAccount:
        return cls(**cls._fields(data))


@dataclass(frozen=True, slots=True)
class CreatedServiceAccount(ServiceAccount):
    """As created or rotated: the only time `client_secret` is returned."""

    client_secret: str = field(default="", repr=False)
    previous_secrets_expire_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatedServiceAccount:
        return cls(
            **cls._fields(data),
            client_secret=data["client_secret"],
            previous_secrets_expire_at=parse_datetime(data.get("previous_secrets_expire_at")),
        )


class OAuthClientPage(list[OAuthClient]):
    """One page of `oauth_clients.list`, newest first, plus `has_more` and `next_cursor`."""

    def __init__(
        self,
        items: Iterable[OAuthClient] = (),
        *,
        has_more: bool = False,
        next_cursor: str | None = None,
    ) -> None:
        super().__init__(items)
        self.has_more = has_more
        self.next_cursor = next_cursor

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OAuthClientPage:
        return cls(
            [OAuthClient.from_dict(c) for c in data["oauth_clients"]],
            has_more=bool(data.get("has_more", False)),
            next_cursor=data.get("next_cursor"),
        )


class ServiceAccountPage(list[ServiceAccount]):
    """One page of `service_accounts.list`, newest first, plus `has_more`, `next_cursor`."""

    def __init__(
        self,
        items: Iterable[ServiceAccount] = (),
        *,
        has_more: bool = False,
        next_cursor: str | None = None,
    ) -> None:
        super().__init__(items)
        self.has_more = has_more
        self.next_cursor = next_cursor

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceAccountPage:
        return cls(
            [ServiceAccount.from_dict(c) for c in data["service_accounts"]],
            has_more=bool(data.get("has_more", False)),
            next_cursor=data.get("next_cursor"),
        )


# -- what each call sends ------------------------------------------------------------------


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def grace_seconds(grace_period: int | timedelta | None) -> int | None:
    if isinstance(grace_period, timedelta):
        return int(grace_period.total_seconds())
    return grace_period


def list_oauth_clients(limit: int | None, cursor: str | None) -> Operation[OAuthClientPage]:
    params = _without_none(limit=limit, cursor=cursor)
    return Operation("GET", OAUTH_CLIENTS, OAuthClientPage.from_dict, params=params)


def get_oauth_client(client_id: str) -> Operation[OAuthClient]:
    return Operation("GET", f"{OAUTH_CLIENTS}/{_segment(client_id)}", OAuthClient.from_dict)


def create_oauth_client(body: dict[str, Any]) -> Operation[CreatedOAuthClient]:
    return Operation(
        "POST", OAUTH_CLIENTS, CreatedOAuthClient.from_dict, json=_without_none(**body), keyed=True
    )


def update_oauth_client(client_id: str, body: dict[str, Any]) -> Operation[OAuthClient]:
    # Sets fields to given values: sending it twice changes nothing more, so it is retried.
    return Operation(
        "PATCH",
        f"{OAUTH_CLIENTS}/{_segment(client_id)}",
        OAuthClient.from_dict,
        json=_without_none(**body),
        retry_safe=True,
    )


def list_service_accounts(limit: int | None, cursor: str | None) -> Operation[ServiceAccountPage]:
    params = _without_none(limit=limit, cursor=cursor)
    return Operation("GET", SERVICE_ACCOUNTS, ServiceAccountPage.from_dict, params=params)


def get_service_account(client_id: str) -> Operation[ServiceAccount]:
    return Operation("GET", f"{SERVICE_ACCOUNTS}/{_segment(client_id)}", ServiceAccount.from_dict)


def create_service_account(
    name: str, scopes: Sequence[str], mode: str | None
) -> Operation[CreatedServiceAccount]:
    body = _without_none(name=name, scopes=list(scopes), mode=mode)
    return Operation(
        "POST", SERVICE_ACCOUNTS, CreatedServiceAccount.from_dict, json=body, keyed=True
    )


def update_service_account(
    client_id: str, name: str | None, scopes: Sequence[str] | None
) -> Operation[ServiceAccount]:
    return Operation(
        "PATCH",
        f"{SERVICE_ACCOUNTS}/{_segment(client_id)}",
        ServiceAccount.from_dict,
        json=_without_none(name=name, scopes=_list(scopes)),
        retry_safe=True,
    )


def rotate_secret(
    base: str, client_id: str, grace_period: int | timedelta | None, parse: Callable[[Any], T]
) -> Operation[T]:
    return Operation(
        "POST",
        f"{base}/{_segment(client_id)}/rotate-secret",
        parse,
        json=_without_none(grace_period=grace_seconds(grace_period)),
        keyed=True,
    )


def set_status(base: str, client_id: str, action: str, parse: Callable[[Any], T]) -> Operation[T]:
    return Operation("POST", f"{base}/{_segment(client_id)}/{action}", parse, keyed=True)


def delete(base: str, client_id: str) -> Operation[None]:
    return Operation("DELETE", f"{base}/{_segment(client_id)}", _no_content)
