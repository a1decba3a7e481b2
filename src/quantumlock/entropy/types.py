"""The vocabulary every entropy source and consumer shares."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol


class SecurityLevel(enum.StrEnum):
    """What actually produced the bits (ARCHITECTURE §6): `QUANTUM_SECURED`, a hardware
    quantum source; `QUANTUM_SIMULATED`, a simulator, conditioned with the OS CSPRNG;
    `CRYPTOGRAPHIC`, the OS CSPRNG only."""

    QUANTUM_SECURED = "QUANTUM_SECURED"  # a hardware quantum source, health-tested
    QUANTUM_SIMULATED = "QUANTUM_SIMULATED"  # a simulator, health-tested and conditioned
    CRYPTOGRAPHIC = "CRYPTOGRAPHIC"  # the OS CSPRNG only


class SourceUnavailable(Exception):
    """A source is not installed, not reachable, or unhealthy."""


@dataclass(frozen=True)
class RawSample:
    """What one source returned before conditioning."""

    data: bytes = field(repr=False)  # never in a log line
    qubits: int | None = None
    fidelity: float | None = None
    job_id: str | None = None
    # Set when the level depends on the answer (a remote service saying what it used);
    # otherwise the source's own `security_level` applies.
    security_level: SecurityLevel | None = None
    # Entropy (bits) these bytes are credited with, when less than their statistics suggest
    # (a seeded PRNG carries its seed, whatever its length); None: 8 * len * min_entropy.
    credited_bits: float | None = None


@dataclass(frozen=True)
class Draw:
    """Conditioned output, with an honest account of where it came from."""

    data: bytes = field(repr=False)  # key material: never in a log line
    source: str  # "qcos_api" | "qiskit_local" | "cryptographic"
    security_level: SecurityLevel
    quantum_verified: bool  # true only for a hardware quantum source that passed the tests
    fidelity: float | None
    qubits: int | None
    job_id: str
    # Entropy credited to the source's bytes behind `data` (the OS CSPRNG input to the
    # conditioner comes on top): what the source can be shown to carry, never more.
    source_entropy_bits: float = 0.0


class EntropySource(Protocol):
    name: str
    # The level this source's bits earn once they passed the health tests.
    security_level: SecurityLevel
    # Claimed min-entropy per raw bit, in (0, 1]: sets the health tests' cut-offs.
    min_entropy: float

    def available(self) -> bool:
        """Installed and (as far as is known without a call) reachable."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why `available()` is false (never a secret), else None."""
        ...

    def describe(self) -> dict[str, Any]:
        """Source-specific fields for /quantum/health (url, latency_ms, simulator, qubits)."""
        ...

    def read(self, nbytes: int) -> RawSample:
        """`nbytes` raw bytes; raises SourceUnavailable when it cannot deliver."""
        ...
