"""Request and response shapes of /api/v2/sso/saml. Never the SP's private key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from quantumlock.core.clock import as_utc
from quantumlock.identity.models import SamlConnection
from quantumlock.identity.saml import metadata
from quantumlock.identity.saml.presets import Attributes, Preset
from quantumlock.identity.saml.service import MAX_GROUP_ROLES, MAX_NAME, MAX_SKEW
from quantumlock.identity.saml.urls import sp_urls

SsoRole = Literal["admin", "member", "viewer"]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
_Certificate = Annotated[str, StringConstraints(min_length=1, max_length=16384)]


class AttributesIn(BaseModel):
    """The SAML attribute names to read; a name left out is the preset's."""

    # strict: "false" is not a boolean nor true an integer (lax mode would coerce them).
    model_config = ConfigDict(extra="forbid", strict=True)

    email: _Name | None = Field(
        default=None,
        description="The email attribute; null: the NameID is the email.",
        examples=["email"],
    )
    name: _Name | None = Field(default=None, examples=["displayName"])
    groups: _Name | None = Field(default=None, examples=["groups"])


# A real (public, EC P-256, valid until 2125) certificate: the examples below are accepted as
# they are, so the document shows a working body and the fuzz reaches a successful PUT.
EXAMPLE_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBNTCB3KADAgECAhRfh5ZC8pbWPLDLGX3YI4S28lC5uTAKBggqhkjOPQQDAjAa
MRgwFgYDVQQDDA9pZHAuZXhhbXBsZS5jb20wIBcNMjUwMTAxMDAwMDAwWhgPMjEy
NTAxMDEwMDAwMDBaMBoxGDAWBgNVBAMMD2lkcC5leGFtcGxlLmNvbTBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABFWhDGI2uwmc6pNMzak5Iudy8wmblsD9SzQt7qMl
vtvRR3/zEWQr1bX3RhOm85Doso2UlRFlHljFh3S5OKeHjSQwCgYIKoZIzj0EAwID
SAAwRQIgRhjb/JrdfnXFgwU/RG1LO1/M90J+jzA6QfNPnFQJjlcCIQCgROQ2aDlA
nwU0syjmh1Ax0/9PTtvWgDeY98MOFhpPOQ==
-----END CERTIFICATE-----
"""
_PUT_EXAMPLE: JsonDict = {
    "idp_entity_id": "http://www.okta.com/exk1example",
    "idp_sso_url": "https://example.okta.com/app/example/exk1example/sso/saml",
    "idp_certificates": [EXAMPLE_CERTIFICATE],
    "preset": "okta",
    "default_role": "member",
    "group_roles": {"QuantumLock Admins": "admin"},
}
_PATCH_EXAMPLE: JsonDict = {
    "group_roles": {"QuantumLock Viewers": "viewer"},
    "clock_skew_seconds": 120,
}


class SamlConnectionIn(BaseModel):
    """The IdP as metadata XML (`idp_metadata_xml`) or as fields (`idp_entity_id`,
    `idp_sso_url`, `idp_certificates`, optional `idp_slo_url`); fields given with the metadata
    override its values."""

    # strict: "false" is not a boolean nor true an integer (lax mode would coerce them).
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [_PUT_EXAMPLE]}
    )

    idp_metadata_xml: str | None = Field(
        default=None,
        min_length=1,
        max_length=metadata.MAX_METADATA_BYTES,
        description="The IdP's SAML metadata (at most 256 KiB, one IdP, an HTTP-Redirect "
        "SSO service; no DTD). The server never fetches a URL: the CLI does.",
    )
    idp_entity_id: str | None = Field(default=None, min_length=1, max_length=metadata.MAX_ENTITY_ID)
    idp_sso_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=metadata.MAX_URL,
        description="HTTP-Redirect SSO URL: https (http only to a loopback host).",
    )
    idp_slo_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=metadata.MAX_URL,
        description="HTTP-Redirect single-logout URL; null: no single logout with the IdP.",
    )
    idp_certificates: list[_Certificate] | None = Field(
        default=None,
        min_length=1,
        max_length=metadata.MAX_CERTIFICATES,
        description="1 to 5 signing certificates (PEM or base64 DER; RSA ≥ 2048 bits or EC "
        "P-256/384/521): more than one during a roll-over.",
    )
    preset: Preset | None = Field(default=None, description="Default: custom.")
    attributes: AttributesIn | None = None
    jit_provisioning: bool | None = Field(
        default=None, description="Create unknown users at their first sign-in (default true)."
    )
    default_role: SsoRole | None = Field(
        default=None, description="A provisioned user's role when no group maps (member)."
    )
    group_roles: dict[_Name, SsoRole] | None = Field(
        default=None,
        max_length=MAX_GROUP_ROLES,
        description="IdP group → role (the highest-ranked match wins); never owner.",
    )
    allow_idp_initiated: bool | None = Field(default=None, description="Default false.")
    sso_required: bool | None = Field(
        default=None,
        description="Password sign-in off for the account's users except owners (false).",
    )
    clock_skew_seconds: int | None = Field(
        default=None, ge=0, le=MAX_SKEW, description="Allowed clock difference (60)."
    )
    enabled: bool | None = Field(default=None, description="Default true.")


class SamlConnectionPatch(SamlConnectionIn):
    """The fields to change; an absent (or null) field stays, except `idp_slo_url` and
    `attributes.email`, where null means none (no SLO; the NameID is the email). Metadata
    replaces the IdP's entity id, URLs and certificates."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [_PATCH_EXAMPLE]}
    )


class CertificateOut(BaseModel):
    fingerprint_sha256: str = Field(description="SHA-256 of the DER, hex.")
    subject: str
    not_after: datetime
    pem: str


class IdpOut(BaseModel):
    entity_id: str
    sso_url: str
    slo_url: str | None
    certificates: list[CertificateOut]


class AttributesOut(BaseModel):
    email: str | None = Field(description="null: the NameID is the email.")
    name: str
    groups: str


class SpOut(BaseModel):
    """What to give the IdP about this service."""

    entity_id: str
    metadata_url: str
    acs_url: str
    login_url: str
    logout_url: str
    slo_url: str
    certificate: str = Field(description="The SP's signing certificate (PEM).")


class SamlConnectionOut(BaseModel):
    id: str
    account_id: str
    preset: Preset
    enabled: bool
    idp: IdpOut
    attributes: AttributesOut
    jit_provisioning: bool
    default_role: SsoRole
    group_roles: dict[str, SsoRole]
    allow_idp_initiated: bool
    sso_required: bool
    clock_skew_seconds: int
    sp: SpOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(
        cls, conn: SamlConnection, attributes: Attributes, base_url: str
    ) -> SamlConnectionOut:
        urls = sp_urls(base_url, conn.account_id)
        certs = [metadata.certificate(pem) for pem in conn.idp_certificates]
        return cls(
            id=conn.id,
            account_id=conn.account_id,
            preset=conn.preset,
            enabled=conn.enabled,
            idp=IdpOut(
                entity_id=conn.idp_entity_id,
                sso_url=conn.idp_sso_url,
                slo_url=conn.idp_slo_url,
                certificates=[
                    CertificateOut(
                        fingerprint_sha256=c.fingerprint_sha256,
                        subject=c.subject,
                        not_after=c.not_after,
                        pem=c.pem,
                    )
                    for c in certs
                ],
            ),
            attributes=AttributesOut(
                email=attributes.email, name=attributes.name, groups=attributes.groups
            ),
            jit_provisioning=conn.jit_provisioning,
            default_role=conn.default_role,
            group_roles=dict(conn.group_roles),
            allow_idp_initiated=conn.allow_idp_initiated,
            sso_required=conn.sso_required,
            clock_skew_seconds=conn.clock_skew_seconds,
            sp=SpOut(
                entity_id=urls.entity_id,
                metadata_url=urls.metadata,
                acs_url=urls.acs,
                login_url=urls.login,
                logout_url=urls.logout,
                slo_url=urls.slo,
                certificate=conn.sp_certificate,
            ),
            created_at=as_utc(conn.created_at),
            updated_at=as_utc(conn.updated_at),
        )
