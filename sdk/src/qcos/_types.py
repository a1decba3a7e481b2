"""The fixed vocabularies of the API, as `Literal` types: type checkers and IDEs offer the
values, and a typo is caught before a request is sent. Each mirrors a server enum (a test
compares them with the server's OpenAPI document)."""

from __future__ import annotations

from typing import Literal, TypeAlias

Scope: TypeAlias = Literal[
    "optimize:read",
    "optimize:write",
    "backends:read",
    "evidence:read",
    "evidence:write",
    "admin",
    "licenses:read",
    "licenses:write",
    "licenses:validate",
    "account:read",
    "quantum:entropy",
    "quantum:keys",
    "quantum:crypto",
]
KeyType: TypeAlias = Literal["live", "test", "restricted"]
LicenseStatus: TypeAlias = Literal["active", "suspended", "revoked", "expired"]
EntropySource: TypeAlias = Literal["qcos_api", "qiskit_local", "cryptographic"]
EntropyEncoding: TypeAlias = Literal["hex", "base64", "raw"]
Cipher: TypeAlias = Literal["AES-256-GCM", "ChaCha20-Poly1305"]
SignatureAlgorithm: TypeAlias = Literal["SHA3-512-RSA", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65"]
KeyAlgorithm: TypeAlias = Literal[
    "AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65", "X25519"
]
KeyExchangeAlgorithm: TypeAlias = Literal["X25519", "X25519-ML-KEM-768"]
RsaBits: TypeAlias = Literal[2048, 3072, 4096]
