"""/api/v1/quantum/health and /api/v1/quantum/entropy: thin routers over EntropyService.

/health is sync: it may start up sources (simulator runs, HTTP), so it runs in a worker
thread. /entropy is async: a draw that needs no blocking work (the OS CSPRNG, or bits the
simulator already buffered) is made on the event loop; anything else goes to a worker thread.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Request, Response

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import QuantumUnavailable
from quantumlock.entropy.schemas import (
    CryptographicHealth,
    EntropyIn,
    EntropyOut,
    HealthOut,
    QcosApiHealth,
    QiskitLocalHealth,
    TestResult,
)
from quantumlock.entropy.service import HealthReport, SourceHealth
from quantumlock.web.body import json_body, json_body_openapi
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import get_runtime, require

router = PrefixRouter(prefix="/api/v1/quantum", tags=["quantum"])

NOT_ENABLED = "not enabled (QL_ENTROPY_SOURCES)"


def encode(data: bytes, bits: int, encoding: str) -> str:
    """The first `bits` bits of `data` (MSB first) in `encoding`."""
    nbytes = -(-bits // 8)
    value = int.from_bytes(data[:nbytes], "big")
    spare = nbytes * 8 - bits
    if encoding == "raw":
        return format(value >> spare, f"0{bits}b")
    out = ((value >> spare) << spare).to_bytes(nbytes, "big")  # unused low bits are zero
    return out.hex() if encoding == "hex" else base64.b64encode(out).decode()


def _source(report: HealthReport, name: str) -> tuple[SourceHealth | None, dict[str, Any]]:
    found = report.sources.get(name)
    return found, (found.details if found else {})


def health_body(report: HealthReport) -> HealthOut:
    qcos, qcos_d = _source(report, "qcos_api")
    qiskit, qiskit_d = _source(report, "qiskit_local")
    crypto, _ = _source(report, "cryptographic")
    draw = report.test_draw
    return HealthOut(
        available=report.available,
        backends=report.backends,
        qcos_api=QcosApiHealth(
            available=bool(qcos and qcos.available),
            healthy=bool(qcos and qcos.healthy),
            url=qcos_d.get("url"),
            latency_ms=qcos_d.get("latency_ms"),
            reason=qcos.reason if qcos else NOT_ENABLED,
        ),
        qiskit_local=QiskitLocalHealth(
            available=bool(qiskit and qiskit.available),
            healthy=bool(qiskit and qiskit.healthy),
            simulator=qiskit_d.get("simulator", "aer_simulator"),
            qubits=qiskit_d.get("qubits") if qiskit and qiskit.available else None,
            reason=qiskit.reason if qiskit else NOT_ENABLED,
        ),
        cryptographic=CryptographicHealth(
            available=bool(crypto and crypto.available),
            healthy=bool(crypto and crypto.healthy),
            reason=crypto.reason if crypto else NOT_ENABLED,
        ),
        test_result=None
        if draw is None
        else TestResult(
            bits=len(draw.data) * 8,
            source=draw.source,
            entropy=draw.data.hex(),
            security_level=draw.security_level.value,
            quantum_verified=draw.quantum_verified,
        ),
    )


@router.get("/health", response_model=HealthOut, summary="Entropy sources: availability, health")
def quantum_health(
    request: Request, principal: Principal = require(Scope.QUANTUM_ENTROPY)
) -> Response:
    """Each configured entropy source (remote QCOS API, local Qiskit simulator, OS CSPRNG):
    whether it is available and passes its SP 800-90B health tests, why not otherwise, and
    a small test draw. `backends` lists the usable ones in fallback order."""
    return model_response(health_body(get_runtime(request).entropy.health()))


@router.post(
    "/entropy",
    response_model=EntropyOut,
    summary="Health-tested, conditioned entropy",
    openapi_extra=json_body_openapi(EntropyIn),
    responses=may_raise(QuantumUnavailable),
)
async def quantum_entropy(
    request: Request, principal: Principal = require(Scope.QUANTUM_ENTROPY)
) -> Response:
    """`bits` random bits (1-4096) in `encoding`. Every source's output passes start-up and
    continuous health tests and is conditioned with the OS CSPRNG, so it is never weaker than
    `os.urandom`; `security_level` and `quantum_verified` say what it is. Without `source`
    the service falls back in order and says which source it used; a requested source that
    cannot deliver is 503 QUANTUM_UNAVAILABLE."""
    body = await json_body(request, EntropyIn)
    entropy = get_runtime(request).entropy
    nbytes = -(-body.bits // 8)
    draw = await entropy.draw_async(nbytes, source=body.source)
    out = EntropyOut(
        entropy=encode(draw.data, body.bits, body.encoding),
        bits=body.bits,
        encoding=body.encoding,
        source=draw.source,
        qubits=draw.qubits,
        fidelity=draw.fidelity,
        quantum_verified=draw.quantum_verified,
        security_level=draw.security_level.value,
        timestamp=utcnow().replace(microsecond=0),
        job_id=draw.job_id,
    )
    return model_response(out)
