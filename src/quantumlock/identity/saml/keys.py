"""The SP's signing pair of a connection: a self-signed RSA certificate (what IdPs accept
everywhere), its private key sealed under the master key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from quantumlock.identity.models import SamlConnection, saml_sp_key_aad
from quantumlock.keyring.sealing import Sealer

SP_CERT_YEARS = 10


@dataclass(frozen=True, slots=True)
class SpKeyPair:
    certificate_pem: str
    private_key_pem: str


def new_sp_key_pair(account_id: str, now: datetime | None = None) -> SpKeyPair:
    now = now or datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"QuantumLock SP {account_id}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * SP_CERT_YEARS))
        .sign(key, hashes.SHA256())
    )
    return SpKeyPair(
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def seal_sp_key(sealer: Sealer, connection_id: str, pair: SpKeyPair) -> bytes:
    return sealer.seal(pair.private_key_pem.encode(), saml_sp_key_aad(connection_id))


def open_sp_key(sealer: Sealer, connection: SamlConnection) -> str:
    """The connection's SP private key (PEM), for python3-saml's settings only."""
    return sealer.open(connection.sealed_sp_private_key, saml_sp_key_aad(connection.id)).decode()
