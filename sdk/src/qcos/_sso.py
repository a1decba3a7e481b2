"""The account's SAML single sign-on connection (/api/v2/sso/saml, scope `admin`): models,
what each call sends, and the `client.sso.saml` resource twins (sync and async)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from qcos._models import _required_datetime
from qcos._operations import Operation, _no_content, _without_none

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client

SAML = "/api/v2/sso/saml"
Preset = Literal["custom", "okta", "azure_ad", "auth0"]
SsoRole = Literal["admin", "member", "viewer"]


@dataclass(frozen=True, slots=True)
class SamlCertificate:
    fingerprint_sha256: str
    subject: str
    not_after: datetime
    pem: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamlCertificate:
        return cls(
            fingerprint_sha256=data["fingerprint_sha256"],
            subject=data["subject"],
            not_after=_required_datetime(data["not_after"]),
            pem=data["pem"],
        )


@dataclass(frozen=True, slots=True)
class SamlIdentityProvider:
    entity_id: str
    sso_url: str
    slo_url: str | None
    certificates: list[SamlCertificate]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamlIdentityProvider:
        return cls(
            entity_id=data["entity_id"],
            sso_url=data["sso_url"],
            slo_url=data.get("slo_url"),
            certificates=[SamlCertificate.from_dict(c) for c in data["certificates"]],
        )


@dataclass(frozen=True, slots=True)
class SamlAttributes:
    """The SAML attribute names read at sign-in; `email` None: the NameID is the email."""

    email: str | None
    name: str
    groups: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamlAttributes:
        return cls(email=data.get("email"), name=data["name"], groups=data["groups"])


@dataclass(frozen=True, slots=True)
class SamlServiceProvider:
    """What to give the identity provider about this service."""

    entity_id: str
    metadata_url: str
    acs_url: str
    login_url: str
    logout_url: str
    slo_url: str
    certificate: str  # PEM

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamlServiceProvider:
        return cls(
            entity_id=data["entity_id"],
            metadata_url=data["metadata_url"],
            acs_url=data["acs_url"],
            login_url=data["login_url"],
            logout_url=data["logout_url"],
            slo_url=data["slo_url"],
            certificate=data["certificate"],
        )


@dataclass(frozen=True, slots=True)
class SamlConnection:
    """The account's identity provider and how its users are signed in and provisioned."""

    id: str
    account_id: str
    preset: str
    enabled: bool
    idp: SamlIdentityProvider
    attributes: SamlAttributes
    jit_provisioning: bool
    default_role: str
    group_roles: dict[str, str]
    allow_idp_initiated: bool
    sso_required: bool
    clock_skew_seconds: int
    sp: SamlServiceProvider
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamlConnection:
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            preset=data["preset"],
            enabled=bool(data["enabled"]),
            idp=SamlIdentityProvider.from_dict(data["idp"]),
            attributes=SamlAttributes.from_dict(data["attributes"]),
            jit_provisioning=bool(data["jit_provisioning"]),
            default_role=data["default_role"],
            group_roles=dict(data["group_roles"]),
            allow_idp_initiated=bool(data["allow_idp_initiated"]),
            sso_required=bool(data["sso_required"]),
            clock_skew_seconds=int(data["clock_skew_seconds"]),
            sp=SamlServiceProvider.from_dict(data["sp"]),
            created_at=_required_datetime(data["created_at"]),
            updated_at=_required_datetime(data["updated_at"]),
        )


# -- operations --------------------------------------------------------------------------------


def get_connection() -> Operation[SamlConnection]:
    return Operation("GET", SAML, SamlConnection.from_dict)


def put_connection(body: dict[str, Any]) -> Operation[SamlConnection]:
    return Operation("PUT", SAML, SamlConnection.from_dict, json=body)


def patch_connection(body: dict[str, Any], remove_slo_url: bool) -> Operation[SamlConnection]:
    if remove_slo_url:
        body = {**body, "idp_slo_url": None}  # null: no single logout with the IdP
    return Operation("PATCH", SAML, SamlConnection.from_dict, json=body)


def delete_connection() -> Operation[None]:
    return Operation("DELETE", SAML, _no_content)


class SamlFields(TypedDict, total=False):
    """What `configure` and `update` take (the API's field names)."""

    idp_metadata_xml: str
    idp_entity_id: str
    idp_sso_url: str
    idp_slo_url: str
    idp_certificates: list[str]
    preset: Preset
    attributes: dict[str, str | None]
    jit_provisioning: bool
    default_role: SsoRole
    group_roles: dict[str, SsoRole]
    allow_idp_initiated: bool
    sso_required: bool
    clock_skew_seconds: int
    enabled: bool


def connection_body(fields: SamlFields) -> dict[str, Any]:
    """The fields given; None is not sent (but inside `attributes`, an `email` of None is:
    the NameID is the email)."""
    return _without_none(**fields)


# -- resources ---------------------------------------------------------------------------------


class Saml:
    """`client.sso.saml`: the account's SAML connection (one per account; scope `admin`,
    changes with a live key only)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self) -> SamlConnection:
        """NotFoundError when the account has none."""
        return self._client._run(get_connection())

    def configure(self, **fields: Unpack[SamlFields]) -> SamlConnection:
        """Create the connection or replace it (fields left out take their defaults; the SP
        key pair stays). The identity provider: `idp_metadata_xml` (its SAML metadata:
        fetch it yourself, the server fetches no URL) or `idp_entity_id`, `idp_sso_url`
        (HTTP-Redirect) and `idp_certificates` (1 to 5 PEM), `idp_slo_url` optional; fields
        given with the metadata override it. `preset` (custom, okta, azure_ad, auth0) names
        the default `attributes` ({"email", "name", "groups"}; email None: the NameID).
        ValidationError names the field at fault; PermissionDeniedError with a test key."""
        return self._client._run(put_connection(connection_body(fields)))

    def update(
        self, *, remove_slo_url: bool = False, **fields: Unpack[SamlFields]
    ) -> SamlConnection:
        """Change only the fields given; `remove_slo_url`: no single logout with the IdP.
        NotFoundError when there is no connection."""
        return self._client._run(patch_connection(connection_body(fields), remove_slo_url))

    def delete(self) -> None:
        self._client._run(delete_connection())


class AsyncSaml:
    """`async_client.sso.saml`: the awaitable twin of `Saml`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self) -> SamlConnection:
        return await self._client._run(get_connection())

    async def configure(self, **fields: Unpack[SamlFields]) -> SamlConnection:
        return await self._client._run(put_connection(connection_body(fields)))

    async def update(
        self, *, remove_slo_url: bool = False, **fields: Unpack[SamlFields]
    ) -> SamlConnection:
        return await self._client._run(patch_connection(connection_body(fields), remove_slo_url))

    async def delete(self) -> None:
        await self._client._run(delete_connection())


class Sso:
    """`client.sso`: single sign-on (`saml`)."""

    def __init__(self, client: Client) -> None:
        self.saml = Saml(client)


class AsyncSso:
    def __init__(self, client: AsyncClient) -> None:
        self.saml = AsyncSaml(client)


__all__ = [
    "AsyncSaml",
    "AsyncSso",
    "Saml",
    "SamlAttributes",
    "SamlCertificate",
    "SamlConnection",
    "SamlFields",
    "SamlIdentityProvider",
    "SamlServiceProvider",
    "Sso",
]
