"""Typed results of /api/v1/quantum (bare bodies). Binary wire fields arrive as bytes."""

from __future__ import annotations

import base64
import binascii
import builtins
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qcos._models import _required_datetime, parse_datetime


def b64encode(data: builtins.bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any) -> builtins.bytes:
    """Strict standard base64: a malformed value is a ValueError, never silently trimmed."""
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError("not valid base64") from exc


def _optional_b64(value: Any) -> builtins.bytes | None:
    return None if value is None else b64decode(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def bits_to_bytes(bits: str) -> builtins.bytes:
    """A `raw` entropy string of 0/1, packed big-endian; unused low-order bits are zero."""
    if bits.strip("01"):
        raise ValueError("raw entropy must be a string of 0 and 1")
    nbytes = (len(bits) + 7) // 8
    padded = bits.ljust(nbytes * 8, "0")
    return int(padded, 2).to_bytes(nbytes, "big") if padded else b""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One entropy source in `quantum.health()`. `reason` says why it is unavailable."""

    available: bool
    healthy: bool
    reason: str | None
    details: dict[str, Any]  # the source's other fields: url, latency_ms, simulator, qubits…

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceHealth:
        known = {"available", "healthy", "reason"}
        return cls(
            available=bool(data["available"]),
            healthy=bool(data.get("healthy", data["available"])),
            reason=data.get("reason"),
            details={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class QuantumHealth:
    """`quantum.health()`: which sources are usable now, in fallback order."""

    available: bool
    backends: list[str]
    sources: dict[str, SourceHealth]
    test_result: dict[str, Any] | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantumHealth:
        reserved = {"available", "backends", "test_result"}
        sources = {
            name: SourceHealth.from_dict(value)
            for name, value in data.items()
            if name not in reserved and isinstance(value, dict)
        }
        test = data.get("test_result")
        return cls(
            available=bool(data["available"]),
            backends=list(data["backends"]),
            sources=sources,
            test_result=dict(test) if isinstance(test, dict) else None,
        )


@dataclass(frozen=True, slots=True)
class Entropy:
    """`quantum.entropy()`. `entropy` is as encoded on the wire; `.bytes` decodes it."""

    entropy: str = field(repr=False)
    bits: int
    encoding: str
    source: str
    qubits: int | None
    fidelity: float | None
    quantum_verified: bool
    security_level: str
    timestamp: datetime | None
    job_id: str | None

    @property
    def bytes(self) -> builtins.bytes:
        if self.encoding == "hex":
            return builtins.bytes.fromhex(self.entropy)
        if self.encoding == "base64":
            return b64decode(self.entropy)
        if self.encoding == "raw":
            return bits_to_bytes(self.entropy)
        raise ValueError(f"unknown entropy encoding {self.encoding!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entropy:
        return cls(
            entropy=str(data["entropy"]),
            bits=int(data["bits"]),
            encoding=str(data.get("encoding") or "hex"),
            source=data["source"],
            qubits=_optional_int(data.get("qubits")),
            fidelity=_optional_float(data.get("fidelity")),
            quantum_verified=bool(data.get("quantum_verified", False)),
            security_level=str(data.get("security_level") or ""),
            timestamp=parse_datetime(data.get("timestamp")),
            job_id=data.get("job_id"),
        )


@dataclass(frozen=True, slots=True)
class QuantumKey:
    """A keystore key. `key` (raw bytes) is set only in the answer that created an
    exportable key — the one time the server hands out the material. `default_for` names
    the algorithm this key is the account's default for (encrypt/sign without `key_id`)."""

    key_id: str
    algorithm: str
    type: str
    source: str
    security_level: str
    quantum_verified: bool
    version: int
    exportable: bool
    public_key: str | None
    created_at: datetime
    bits: int | None = None
    key: builtins.bytes | None = field(default=None, repr=False)
    default_for: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantumKey:
        return cls(
            key_id=data["key_id"],
            algorithm=data["algorithm"],
            type=data["type"],
            source=data["source"],
            security_level=data["security_level"],
            quantum_verified=bool(data["quantum_verified"]),
            version=int(data["version"]),
            exportable=bool(data["exportable"]),
            public_key=data.get("public_key"),
            created_at=_required_datetime(data["created_at"]),
            bits=_optional_int(data.get("bits")),
            key=_optional_b64(data.get("key")),
            default_for=data.get("default_for"),
        )


@dataclass(frozen=True, slots=True)
class QuantumKeyList:
    """One page of `quantum.list_keys`, newest first; `total` counts every key."""

    keys: list[QuantumKey]
    total: int
    skip: int
    limit: int

    @property
    def next_skip(self) -> int | None:
        following = self.skip + len(self.keys)
        return following if self.keys and following < self.total else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantumKeyList:
        return cls(
            keys=[QuantumKey.from_dict(row) for row in data["keys"]],
            total=int(data["total"]),
            skip=int(data["skip"]),
            limit=int(data["limit"]),
        )


@dataclass(frozen=True, slots=True)
class Encrypted:
    """`quantum.encrypt()`: pass it back to `quantum.decrypt()` as is (with the same aad).

    `to_dict()` / `from_dict()` give the wire form (base64 strings), fit for storing as JSON.
    """

    ciphertext: builtins.bytes = field(repr=False)
    iv: builtins.bytes
    tag: builtins.bytes
    key_id: str
    algorithm: str
    quantum_secured: bool = False
    key_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "iv": b64encode(self.iv),
            "tag": b64encode(self.tag),
            "ciphertext": b64encode(self.ciphertext),
            "quantum_secured": self.quantum_secured,
            "key_version": self.key_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encrypted:
        return cls(
            ciphertext=b64decode(data["ciphertext"]),
            iv=b64decode(data["iv"]),
            tag=b64decode(data["tag"]),
            key_id=data["key_id"],
            algorithm=data["algorithm"],
            quantum_secured=bool(data.get("quantum_secured", False)),
            key_version=_optional_int(data.get("key_version")),
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """`quantum.sign()`: the signature and what `quantum.verify()` needs to check it.

    `quantum_nonce` (32 hex characters) is part of the signed bytes; `to_dict()` /
    `from_dict()` give the wire form (base64 signature), fit for storing as JSON.
    """

    signature: builtins.bytes = field(repr=False)
    key_id: str
    public_key: str = field(repr=False)
    algorithm: str
    quantum_nonce: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": b64encode(self.signature),
            "key_id": self.key_id,
            "public_key": self.public_key,
            "algorithm": self.algorithm,
            "quantum_nonce": self.quantum_nonce,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """ValueError when `quantum_nonce` is not 32 hex characters: without the nonce a
        verifier would check the bare message, not the bytes the server signed."""
        nonce = data["quantum_nonce"]
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise ValueError("quantum_nonce: 32 hex characters.")
        return cls(
            signature=b64decode(data["signature"]),
            key_id=data["key_id"],
            public_key=data["public_key"],
            algorithm=data["algorithm"],
            quantum_nonce=nonce,
        )


_NONCE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class KeyExchange:
    """One step of `quantum.key_exchange()`.

    The initiator's first call has `shared_secret` None and a `session_id` to complete
    with; the responder's call, and the initiator's completing call, carry the secret.
    """

    session_id: str
    public_key: builtins.bytes = field(repr=False)
    shared_secret: builtins.bytes | None = field(repr=False)
    algorithm: str
    key_bits: int
    expires_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.shared_secret is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyExchange:
        return cls(
            session_id=data["session_id"],
            public_key=b64decode(data["public_key"]),
            shared_secret=_optional_b64(data.get("shared_secret")),
            algorithm=data["algorithm"],
            key_bits=int(data["key_bits"]),
            expires_at=parse_datetime(data.get("expires_at")),
        )
