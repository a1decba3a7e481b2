"""EntropyService: ordered fallback over the configured sources.

Minimal version (OS CSPRNG only); the full one adds qcos_api and qiskit_local, health tests
and conditioning, keeping this interface.
"""

from __future__ import annotations

import os
import secrets

from quantumlock.core.errors import QuantumUnavailable
from quantumlock.entropy.types import Draw, SecurityLevel


class EntropyService:
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def draw(self, nbytes: int, *, source: str | None = None) -> Draw:
        """`nbytes` conditioned bytes from `source`, or from the first healthy source.

        A forced source that cannot deliver raises QuantumUnavailable (503).
        """
        if source is not None and source != "cryptographic":
            raise QuantumUnavailable(f"Entropy source {source!r} is unavailable.")
        return Draw(
            data=os.urandom(nbytes),
            source="cryptographic",
            security_level=SecurityLevel.CRYPTOGRAPHIC,
            quantum_verified=False,
            fidelity=None,
            qubits=None,
            job_id="job_" + secrets.token_hex(8),
        )
