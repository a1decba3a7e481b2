"""The vocabulary every entropy source and consumer shares."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class SecurityLevel(enum.StrEnum):
    """ARCHITECTURE §6: what actually produced the bits."""

    QUANTUM_SECURED = "QUANTUM_SECURED"  # a hardware quantum source, health-tested
    QUANTUM_SIMULATED = "QUANTUM_SIMULATED"  # a simulator, health-tested and conditioned
    CRYPTOGRAPHIC = "CRYPTOGRAPHIC"  # the OS CSPRNG only


class SourceUnavailable(Exception):
    """A source is not installed, not reachable, or unhealthy."""


@dataclass(frozen=True)
class RawSample:
    """What one source returned before conditioning."""

    data: bytes
    qubits: int | None = None
    fidelity: float | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class Draw:
    """Conditioned output, with an honest account of where it came from."""

    data: bytes
    source: str  # "qcos_api" | "qiskit_local" | "cryptographic"
    security_level: SecurityLevel
    quantum_verified: bool  # true only for a hardware quantum source that passed the tests
    fidelity: float | None
    qubits: int | None
    job_id: str


class EntropySource(Protocol):
    name: str
    # The level this source's bits earn once they passed the health tests.
    security_level: SecurityLevel

    def available(self) -> bool:
        """Installed and (as far as is known without a call) reachable."""
        ...

    def read(self, nbytes: int) -> RawSample:
        """`nbytes` raw bytes; raises SourceUnavailable when it cannot deliver."""
        ...
