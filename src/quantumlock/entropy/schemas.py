"""/api/v1/quantum/health and /entropy bodies (docs/quantum-api.md, the reference's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from quantumlock.entropy.types import SecurityLevel

SourceName = Literal["qcos_api", "qiskit_local", "cryptographic"]
Encoding = Literal["hex", "base64", "raw"]
# Not an enum in responses: QL_ENTROPY_SOURCES may name a source added with
# entropy.sources.register_source.
SOURCE_DESCRIPTION = (
    "The source that delivered: `qcos_api`, `qiskit_local` or `cryptographic` (or a source "
    "registered by a plug-in)"
)


class EntropyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits: Annotated[int, Field(strict=True, ge=1, le=4096)] = 256
    encoding: Encoding = "hex"
    source: SourceName | None = Field(
        None, description="Force a source; unavailable or unhealthy is 503 QUANTUM_UNAVAILABLE"
    )


class EntropyOut(BaseModel):
    entropy: str = Field(
        description="hex/base64 of ceil(bits/8) bytes (unused low bits of the last byte are 0),"
        " or raw: a string of `bits` 0/1 characters"
    )
    bits: int
    encoding: Encoding
    source: str = Field(description=SOURCE_DESCRIPTION)
    qubits: int | None
    fidelity: float | None
    quantum_verified: bool
    security_level: SecurityLevel
    timestamp: datetime
    job_id: str


class QcosApiHealth(BaseModel):
    available: bool
    healthy: bool
    url: str | None
    latency_ms: int | None
    reason: str | None


class QiskitLocalHealth(BaseModel):
    available: bool
    healthy: bool
    simulator: str
    qubits: int | None
    reason: str | None


class CryptographicHealth(BaseModel):
    available: bool
    healthy: bool
    reason: str | None


class TestResult(BaseModel):
    bits: int
    source: str = Field(description=SOURCE_DESCRIPTION)
    entropy: str
    security_level: SecurityLevel
    quantum_verified: bool


class HealthOut(BaseModel):
    available: bool
    backends: list[str] = Field(description="Sources usable now, in fallback order")
    qcos_api: QcosApiHealth
    qiskit_local: QiskitLocalHealth
    cryptographic: CryptographicHealth
    test_result: TestResult | None
