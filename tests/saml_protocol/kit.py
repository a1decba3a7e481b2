"""A tiny test IdP for the protocol's own tests: a key pair, a connection row, and SAML
Responses built as text and signed with python3-saml's own signer (xmlsec). The full pysaml2
IdP and the attack tests are in tests/saml/."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]

from quantumlock.core.ids import new_id
from quantumlock.identity.models import SamlConnection
from quantumlock.identity.saml.keys import new_sp_key_pair, seal_sp_key
from quantumlock.identity.saml.urls import sp_urls

BASE = "http://testserver"
IDP_ENTITY = "https://idp.example.test/metadata"
IDP_SSO = "https://idp.example.test/sso"
IDP_SLO = "https://idp.example.test/slo"


@dataclass(frozen=True)
class KeyPair:
    key_pem: str
    cert_pem: str


def key_pair(name: str = "Test IdP") -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


IDP = key_pair()
OTHER = key_pair("Someone else")


def add_connection(app: FastAPI, account_id: str, **overrides: Any) -> SamlConnection:
    runtime = app.state.runtime
    now = datetime.now(UTC)
    conn_id = new_id("saml")
    pair = new_sp_key_pair(account_id)
    values: dict[str, Any] = {
        "id": conn_id,
        "account_id": account_id,
        "preset": "custom",
        "enabled": True,
        "idp_entity_id": IDP_ENTITY,
        "idp_sso_url": IDP_SSO,
        "idp_slo_url": IDP_SLO,
        "idp_certificates": [IDP.cert_pem],
        # "" = the NameID is the email (SamlConfigService.EMAIL_FROM_NAME_ID)
        "attribute_email": "",
        "jit_provisioning": True,
        "default_role": "member",
        "group_roles": {},
        "allow_idp_initiated": False,
        "sso_required": False,
        "clock_skew_seconds": 60,
        "sp_certificate": pair.certificate_pem,
        "sealed_sp_private_key": seal_sp_key(runtime.sealer, conn_id, pair),
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    with runtime.unit_of_work() as session:
        conn = SamlConnection(**values)
        session.add(conn)
    return conn


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Spec:
    """One Response to build; every field is what a correct IdP sends unless changed."""

    account_id: str
    name_id: str
    in_response_to: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    issuer: str = IDP_ENTITY
    audience: str | None = None
    recipient: str | None = None
    destination: str | None = None
    not_before: timedelta = timedelta(minutes=-1)
    not_on_or_after: timedelta = timedelta(minutes=5)
    scd_not_on_or_after: timedelta | None = timedelta(minutes=5)
    assertion_id: str = field(default_factory=lambda: "_a" + uuid.uuid4().hex)
    session_index: str | None = "_sess1"
    sign_assertion: bool = True
    sign_response: bool = False
    signer: KeyPair = IDP
    sha1: bool = False  # sign with RSA-SHA1 / SHA-1 (refused)
    xml_hook: Any = None  # str -> str on the final XML, before base64

    def urls(self) -> Any:
        return sp_urls(BASE, self.account_id)


def build(spec: Spec) -> str:
    """The base64 SAMLResponse for `spec`."""
    now = datetime.now(UTC)
    urls = spec.urls()
    acs = urls.acs
    audience = spec.audience or urls.entity_id
    recipient = (spec.recipient or "{acs}").replace("{acs}", acs)
    destination = (spec.destination or "{acs}").replace("{acs}", acs)
    irt = f" InResponseTo={quoteattr(spec.in_response_to)}" if spec.in_response_to else ""
    scd_nooa = (
        f' NotOnOrAfter="{_t(now + spec.scd_not_on_or_after)}"'
        if spec.scd_not_on_or_after is not None
        else ""
    )
    attrs = "".join(
        f"<saml:Attribute Name={quoteattr(k)}>"
        + "".join(f"<saml:AttributeValue>{escape(v)}</saml:AttributeValue>" for v in vs)
        + "</saml:Attribute>"
        for k, vs in spec.attributes.items()
    )
    statement = f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement>" if attrs else ""
    session_index = f" SessionIndex={quoteattr(spec.session_index)}" if spec.session_index else ""
    ns = (
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
    )
    assertion = (
        f'<saml:Assertion {ns} ID="{spec.assertion_id}" Version="2.0" '
        f'IssueInstant="{_t(now)}">'
        f"<saml:Issuer>{escape(spec.issuer)}</saml:Issuer>"
        "<saml:Subject>"
        '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
        f"{escape(spec.name_id)}</saml:NameID>"
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f"<saml:SubjectConfirmationData{irt}{scd_nooa} Recipient={quoteattr(recipient)}/>"
        "</saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{_t(now + spec.not_before)}" '
        f'NotOnOrAfter="{_t(now + spec.not_on_or_after)}">'
        f"<saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience>"
        "</saml:AudienceRestriction></saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_t(now)}"{session_index}>'
        "<saml:AuthnContext><saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"{statement}</saml:Assertion>"
    )
    if spec.sign_assertion:
        assertion = _sign(assertion, spec.signer, spec.sha1)
    response = (
        f'<samlp:Response {ns} ID="_r{uuid.uuid4().hex}" Version="2.0" '
        f'IssueInstant="{_t(now)}" Destination={quoteattr(destination)}{irt}>'
        f"<saml:Issuer>{escape(spec.issuer)}</saml:Issuer>"
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        f"</samlp:Status>{assertion}</samlp:Response>"
    )
    if spec.sign_response:
        response = _sign(response, spec.signer, spec.sha1)
    if spec.xml_hook is not None:
        response = spec.xml_hook(response)
    return base64.b64encode(response.encode()).decode()


def _sign(xml: str, pair: KeyPair, sha1: bool = False) -> str:
    algorithms = (
        (OneLogin_Saml2_Constants.RSA_SHA1, OneLogin_Saml2_Constants.SHA1)
        if sha1
        else (OneLogin_Saml2_Constants.RSA_SHA256, OneLogin_Saml2_Constants.SHA256)
    )
    signed = OneLogin_Saml2_Utils.add_sign(xml, pair.key_pem, pair.cert_pem, False, *algorithms)
    text = signed.decode() if isinstance(signed, bytes) else str(signed)
    # add_sign serialises a whole document: drop an XML declaration before embedding.
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]
    return text
