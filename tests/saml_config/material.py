"""IdP material for the configuration tests: certificates with various keys, and metadata
documents (one IdP, two, no HTTP-Redirect service, a DTD, ...)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
IDP_ENTITY = "https://idp.example.com/saml"
SSO_URL = "https://idp.example.com/sso"
SLO_URL = "https://idp.example.com/slo"


def _cert(key: CertificateIssuerPrivateKeyTypes, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, algorithm)
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def bare(cert: x509.Certificate) -> str:
    """Base64 DER without PEM armour (what metadata documents hold)."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@cache
def rsa_cert(name: str = "IdP signing", bits: int = 2048) -> x509.Certificate:
    return _cert(rsa.generate_private_key(public_exponent=65537, key_size=bits), name)


@cache
def ec_cert(curve: str = "p256") -> x509.Certificate:
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "k256": ec.SECP256K1()}
    return _cert(ec.generate_private_key(curves[curve]), f"IdP {curve}")


@cache
def ed25519_cert() -> x509.Certificate:
    return _cert(ed25519.Ed25519PrivateKey.generate(), "IdP ed25519")


@cache
def dsa_cert() -> x509.Certificate:
    return _cert(dsa.generate_private_key(2048), "IdP dsa")


def entity(
    entity_id: str = IDP_ENTITY,
    *,
    certs: tuple[x509.Certificate, ...] | None = None,
    sso: tuple[tuple[str, str], ...] = ((REDIRECT, SSO_URL),),
    slo: tuple[tuple[str, str], ...] = ((REDIRECT, SLO_URL),),
) -> str:
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{bare(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for c in (certs if certs is not None else (rsa_cert(),))
    )
    ssos = "".join(f'<md:SingleSignOnService Binding="{b}" Location="{u}"/>' for b, u in sso)
    slos = "".join(f'<md:SingleLogoutService Binding="{b}" Location="{u}"/>' for b, u in slo)
    return (
        f'<md:EntityDescriptor entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}{slos}{ssos}</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


_NS = (
    'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
)


def metadata(*entities: str, prolog: str = "") -> str:
    """One EntityDescriptor as the document, or several inside an EntitiesDescriptor."""
    if len(entities) == 1:
        body = entities[0].replace("<md:EntityDescriptor ", f"<md:EntityDescriptor {_NS} ", 1)
    else:
        body = f"<md:EntitiesDescriptor {_NS}>{''.join(entities)}</md:EntitiesDescriptor>"
    return f'<?xml version="1.0" encoding="UTF-8"?>{prolog}{body}'


def idp_metadata(**kwargs: object) -> str:
    return metadata(entity(**kwargs))  # type: ignore[arg-type]


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
XXE = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
