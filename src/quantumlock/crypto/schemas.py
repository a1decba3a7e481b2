"""Request and response bodies of the keystore and crypto routes (docs/quantum-api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from quantumlock.core.clock import as_utc
from quantumlock.crypto.encoding import b64_chars
from quantumlock.crypto.models import QuantumKey
from quantumlock.entropy.types import SecurityLevel

MAX_DATA = 1024 * 1024  # plaintext, ciphertext, message: 1 MiB decoded
MAX_AAD = 64 * 1024
MAX_SIGNATURE = 8 * 1024
MAX_PEM = 16 * 1024

Source = Literal["qcos_api", "qiskit_local", "cryptographic"]
KeyAlgorithm = Literal[
    "AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65", "X25519"
]
AeadAlgorithm = Literal["AES-256-GCM", "ChaCha20-Poly1305"]
SignatureAlgorithm = Literal["SHA3-512-RSA", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65"]
# What a keystore key is: KeyAlgorithm, or an RSA key (POST /quantum/rsa).
StoredAlgorithm = Literal[
    "AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65", "X25519", "RSA"
]
KeyId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


Data = Annotated[
    str,
    Field(
        max_length=b64_chars(MAX_DATA),
        description="Standard base64 (with padding), at most 1 MiB decoded.",
    ),
]
Aad = Annotated[
    str,
    Field(
        max_length=b64_chars(MAX_AAD),
        description="Associated data, standard base64, at most 64 KiB decoded.",
    ),
]


# -- keystore ----------------------------------------------------------------------------


class KeyCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: KeyAlgorithm
    exportable: bool = False
    source: Source | None = Field(
        default=None, description="Force an entropy source (503 QUANTUM_UNAVAILABLE if it cannot)."
    )
    key: str | None = Field(
        default=None,
        max_length=b64_chars(64),
        description="Import your own material (base64, the export format: 32 bytes; 64 for the "
        "hybrid). The key's source is then `imported`, security level CRYPTOGRAPHIC.",
    )


class RsaCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits: Literal[2048, 3072, 4096] = 3072
    exportable: bool = False
    source: Source | None = None


class KeyOut(BaseModel):
    key_id: str
    algorithm: StoredAlgorithm
    type: Literal["symmetric", "signing", "key_agreement", "rsa"]
    source: str = Field(description="The entropy source that made it, or `imported`")
    security_level: SecurityLevel
    quantum_verified: bool
    version: int
    exportable: bool
    public_key: str | None = Field(description="SubjectPublicKeyInfo PEM; null for symmetric keys")
    created_at: datetime
    default_for: str | None = Field(
        default=None,
        description="The algorithm this key is the account's default for (what encrypt and "
        "sign without `key_id` use), else null",
    )

    @classmethod
    def fields_of(cls, row: QuantumKey) -> dict[str, object]:
        return {
            "key_id": row.id,
            "algorithm": row.algorithm,
            "type": row.type,
            "source": row.source,
            "security_level": row.security_level,
            "quantum_verified": row.quantum_verified,
            "version": row.version,
            "exportable": row.exportable,
            "public_key": row.public_key,
            "created_at": as_utc(row.created_at),
            "default_for": row.default_for,
        }

    @classmethod
    def from_row(cls, row: QuantumKey) -> KeyOut:
        return cls.model_validate(cls.fields_of(row))


class KeyCreatedOut(KeyOut):
    key: str | None = Field(
        description="The material, base64, only in this response and only if exportable."
    )


class RsaCreatedOut(KeyCreatedOut):
    bits: int


class KeyList(BaseModel):
    keys: list[KeyOut]
    total: int
    skip: int
    limit: int


# -- operations --------------------------------------------------------------------------


class EncryptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plaintext: Data
    key_id: KeyId | None = Field(
        default=None,
        description="null: the account's default key for `algorithm` (in this mode), made "
        "non-exportable by the first such call and reused by every later one",
    )
    algorithm: AeadAlgorithm | None = Field(
        default=None,
        description="null: the key's own algorithm, or AES-256-GCM without `key_id`; "
        "if given with `key_id`, it must be the key's",
    )
    aad: Aad | None = None


class EncryptOut(BaseModel):
    ciphertext: str = Field(description="base64, without the tag")
    key_id: str
    iv: str = Field(description="base64, 12 bytes")
    tag: str = Field(description="base64, 16 bytes")
    algorithm: AeadAlgorithm
    quantum_secured: bool = Field(description="The key's quantum_verified")
    key_version: int


class DecryptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ciphertext: Data
    key_id: KeyId
    iv: str = Field(max_length=64, description="base64, exactly 12 bytes")
    tag: str = Field(max_length=64, description="base64, exactly 16 bytes")
    aad: Aad | None = None
    algorithm: AeadAlgorithm | None = Field(
        default=None, description="If given, must be the key's algorithm"
    )


class DecryptOut(BaseModel):
    plaintext: str
    key_id: str
    algorithm: AeadAlgorithm


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Data
    key_id: KeyId | None = Field(
        default=None,
        description="null: the account's default signing key for `algorithm` (in this mode; "
        "RSA-3072 for SHA3-512-RSA), made by the first such call and reused by every later one",
    )
    algorithm: SignatureAlgorithm | None = Field(
        default=None,
        description="null: the key's own algorithm (SHA3-512-RSA for an RSA key), or "
        "SHA3-512-RSA without `key_id`; if given with `key_id`, it must fit the key",
    )


class SignOut(BaseModel):
    signature: str
    key_id: str
    public_key: str
    algorithm: SignatureAlgorithm
    quantum_nonce: str = Field(description="16 fresh bytes, hex; bound into the signed bytes")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Data
    signature: str = Field(max_length=b64_chars(MAX_SIGNATURE))
    quantum_nonce: str | None = Field(
        default=None,
        max_length=64,
        description="The nonce from /sign (32 hex). null or absent: the message is verified "
        "as-is, without the QL-SIGN-v1 binding (signatures made elsewhere).",
    )
    algorithm: SignatureAlgorithm
    key_id: KeyId | None = None
    public_key: str | None = Field(
        default=None,
        max_length=MAX_PEM,
        description="SubjectPublicKeyInfo PEM (hybrid: Ed25519 block then ML-DSA-65 block). "
        "Exactly one of key_id and public_key.",
    )
    context: str | None = Field(
        default=None,
        max_length=b64_chars(255),
        description="ML-DSA-65 only: the FIPS 204 context string (base64, at most 255 bytes) "
        "of a signature made elsewhere; absent means empty.",
    )


class VerifyOut(BaseModel):
    valid: bool
    algorithm: SignatureAlgorithm
    key_id: str | None
