"""What an IdP is, checked: its certificates (X.509 with an RSA ≥ 2048 or EC P-256/384/521
key), its URLs (https, or http to a loopback host), and its metadata XML, parsed by
python3-saml's `OneLogin_Saml2_IdPMetadataParser` (never fetched here: the server fetches
no URL, the CLI does). Every refusal is a ValidationFailed naming the field."""

from __future__ import annotations

import base64
import binascii
import importlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from quantumlock.core.clock import as_utc
from quantumlock.core.errors import ValidationFailed

MAX_METADATA_BYTES = 256 * 1024
MAX_CERTIFICATES = 5
MAX_URL = 2000
MAX_ENTITY_ID = 1024
MIN_RSA_BITS = 2048
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_LOOPBACK_NAMES = ("localhost",)
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# Refused before any parser sees them: a DTD is how entity expansion (billion laughs) and
# external entities (XXE) get in, and no IdP's metadata needs one.
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@dataclass(frozen=True, slots=True)
class Certificate:
    pem: str
    fingerprint_sha256: str  # hex, lower case, of the DER
    subject: str
    not_after: datetime


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    entity_id: str
    sso_url: str
    slo_url: str | None
    certificates: list[str]  # PEM, the signing ones


def certificate(value: str, field: str = "idp_certificates") -> Certificate:
    """One certificate, PEM or bare base64 DER, with an acceptable signing key."""
    text = value.strip()
    match = _PEM.fullmatch(text)
    b64 = match.group(1) if match else text
    try:
        der = base64.b64decode("".join(b64.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            f"{field}: not an X.509 certificate (PEM or base64 DER).", field=field
        ) from None
    try:
        key = cert.public_key()
    except (ValueError, TypeError):  # an unsupported or malformed key
        raise ValidationFailed(f"{field}: unreadable public key.", field=field) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValidationFailed(
                f"{field}: an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}.",
                field=field,
            )
    elif not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _EC_CURVES)):
        raise ValidationFailed(
            f"{field}: the key must be RSA (2048 bits or more) or EC P-256, P-384 or P-521.",
            field=field,
        )
    return Certificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string(),
        not_after=as_utc(cert.not_valid_after_utc),
    )


def certificates(values: list[str], field: str = "idp_certificates") -> list[Certificate]:
    """1..5 certificates (more than one during a roll-over), duplicates dropped."""
    if not 1 <= len(values) <= MAX_CERTIFICATES:
        raise ValidationFailed(
            f"{field}: between 1 and {MAX_CERTIFICATES} certificates.", field=field
        )
    out: dict[str, Certificate] = {}
    for value in values:
        cert = certificate(value, field)
        out.setdefault(cert.fingerprint_sha256, cert)
    return list(out.values())


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url(value: str, field: str) -> str:
    """An IdP address the browser is sent to: https, or http only to a loopback host (a
    local IdP). No credentials, fragment, space or control character."""
    if len(value) > MAX_URL or _CONTROL.search(value):
        raise ValidationFailed(
            f"{field}: at most {MAX_URL} characters, no spaces or control characters.",
            field=field,
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationFailed(f"{field}: not a URL.", field=field) from None
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise ValidationFailed(
            f"{field}: an absolute URL with a host, no credentials and no fragment.", field=field
        )
    if not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise ValidationFailed(
            f"{field}: must be https (http only to 127.0.0.1, ::1 or localhost).", field=field
        )
    # What python3-saml refuses at sign-in time (its settings check) must be refused here:
    # stored, it would fail every sign-in with a 503. Non-ASCII first, with a hint.
    if not value.isascii():
        raise ValidationFailed(
            f"{field}: ASCII only (give an international domain name in its xn-- form and "
            "percent-encode the path).",
            field=field,
        )
    settings = importlib.import_module("onelogin.saml2.settings")
    if not settings.validate_url(value, allow_single_label_domain=True):
        raise ValidationFailed(f"{field}: not a URL python3-saml accepts.", field=field)
    return value


def entity_id(value: str, field: str = "idp_entity_id") -> str:
    if not value or len(value) > MAX_ENTITY_ID or _CONTROL.search(value):
        raise ValidationFailed(
            f"{field}: 1 to {MAX_ENTITY_ID} characters, no spaces or control characters.",
            field=field,
        )
    return value


def _metadata_error(message: str) -> ValidationFailed:
    return ValidationFailed(f"idp_metadata_xml: {message}", field="idp_metadata_xml")


def parse_metadata(xml: str) -> IdpMetadata:
    """The one IdP that `xml` describes: its entity id, HTTP-Redirect SSO and SLO services
    and signing certificates (checked like the `idp_certificates` field)."""
    # Imported here (python3-saml is the optional `[saml]` extra, and untyped).
    parser = importlib.import_module("onelogin.saml2.idp_metadata_parser")
    xml_utils = importlib.import_module("onelogin.saml2.xml_utils")
    raw = xml.encode()
    if len(raw) > MAX_METADATA_BYTES:
        raise _metadata_error(f"larger than {MAX_METADATA_BYTES // 1024} KiB.")
    if _DTD.search(raw):
        raise _metadata_error("a DTD or entity declaration is not allowed.")
    try:
        # python3-saml's parser: no DTD, no entities, no network, no huge trees.
        dom = xml_utils.OneLogin_Saml2_XML.to_etree(raw)
        idps = dom.xpath("//md:EntityDescriptor[md:IDPSSODescriptor]", namespaces={"md": _MD})
        if len(idps) != 1:
            raise _metadata_error(f"must describe exactly one identity provider ({len(idps)}).")
        data: dict[str, Any] = parser.OneLogin_Saml2_IdPMetadataParser.parse(
            raw, required_sso_binding=_REDIRECT, required_slo_binding=_REDIRECT
        )
    except ValidationFailed:
        raise
    except Exception:  # lxml's syntax errors, DTDForbidden, ...: one answer, never a 500
        raise _metadata_error("not well-formed SAML metadata XML.") from None
    idp: dict[str, Any] = data.get("idp", {})
    sso = idp.get("singleSignOnService", {}).get("url")
    if not sso:
        raise _metadata_error("the identity provider offers no HTTP-Redirect SSO service.")
    if not idp.get("entityId"):
        raise _metadata_error("the identity provider has no entityID.")
    multi: dict[str, list[str]] = idp.get("x509certMulti") or {}
    signing = multi.get("signing") or ([idp["x509cert"]] if idp.get("x509cert") else [])
    if not signing:
        raise _metadata_error("the identity provider lists no signing certificate.")
    slo = idp.get("singleLogoutService", {}).get("url")
    return IdpMetadata(
        entity_id=entity_id(idp["entityId"], "idp_metadata_xml"),
        sso_url=url(sso, "idp_metadata_xml"),
        slo_url=url(slo, "idp_metadata_xml") if slo else None,
        certificates=[c.pem for c in certificates(signing, "idp_metadata_xml")],
    )
