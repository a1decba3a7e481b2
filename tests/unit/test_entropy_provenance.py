"""What a source's bits can be shown to be (#16 findings 13 and 14).

* A remote's hardware claim counts only from an https URL whose response is signed with the
  pinned Ed25519 key (or when the operator vouches for it); otherwise CRYPTOGRAPHIC,
  no fidelity, credited nothing. A pinned key with a bad signature refuses the response.
* The simulator is credited what its seed carries (63 bits per run), not 0.9 bit per bit.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quantumlock.entropy.service import EntropyService
from quantumlock.entropy.sources import (
    NONCE_HEADER,
    SEED_BITS,
    SIGNATURE_HEADER,
    CryptographicSource,
    QcosApiSource,
    QiskitLocalSource,
    load_signing_key,
    signed_message,
)
from quantumlock.entropy.types import SecurityLevel

URL = "https://qcos.example"


def remote(
    key: Ed25519PrivateKey | None, *, tamper: bool = False, replay: bytes | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A QCOS remote claiming hardware; signs (nonce, body) with `key` when given."""

    def handler(request: httpx.Request) -> httpx.Response:
        bits = json.loads(request.content)["bits"]
        body = json.dumps(
            {
                "entropy": os.urandom(bits // 8).hex(),
                "bits": bits,
                "source": "qcos_api",
                "qubits": 127,
                "fidelity": 0.9987,
                "quantum_verified": True,
                "security_level": "QUANTUM_SECURED",
                "job_id": "job_remote_1",
            }
        ).encode()
        headers = {"content-type": "application/json"}
        if key is not None:
            nonce = request.headers[NONCE_HEADER]
            signed = signed_message(nonce, body) + (b"x" if tamper else b"")
            headers[SIGNATURE_HEADER] = base64.b64encode(key.sign(signed)).decode()
        return httpx.Response(200, content=replay or body, headers=headers)

    return handler


def service_for(source: QcosApiSource) -> EntropyService:
    return EntropyService([source, CryptographicSource()])


def test_signed_https_answer_is_quantum_secured() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    source = QcosApiSource(
        URL,
        "k",
        signing_key=load_signing_key(pem.decode()),
        transport=httpx.MockTransport(remote(key)),
    )
    draw = service_for(source).draw(64)
    assert draw.source == "qcos_api" and draw.quantum_verified
    assert draw.security_level is SecurityLevel.QUANTUM_SECURED
    assert (draw.fidelity, draw.qubits) == (0.9987, 127)
    assert draw.source_entropy_bits == pytest.approx(0.8 * 8 * 128)


def test_unsigned_or_plain_http_claims_are_cryptographic() -> None:
    key = Ed25519PrivateKey.generate()
    raw_pub = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    cases = [
        # No pinned key at all: the review's stand-in.
        QcosApiSource(URL, "k", transport=httpx.MockTransport(remote(None))),
        # Signed with the pinned key, but over plain http: a claim anyone on the path could
        # have read (and the bits too).
        QcosApiSource(
            "http://qcos.example",
            "k",
            signing_key=load_signing_key(base64.b64encode(raw_pub).decode()),
            transport=httpx.MockTransport(remote(key)),
        ),
    ]
    for source in cases:
        draw = service_for(source).draw(64)
        assert draw.source == "qcos_api"
        assert draw.security_level is SecurityLevel.CRYPTOGRAPHIC and not draw.quantum_verified
        assert draw.fidelity is None and draw.qubits is None
        assert draw.source_entropy_bits == 0  # bits of unknown origin earn no credit


def test_operator_attestation_is_believed() -> None:
    source = QcosApiSource(
        "http://qcos.example", "k", trust_claims=True, transport=httpx.MockTransport(remote(None))
    )
    draw = service_for(source).draw(32)
    assert draw.security_level is SecurityLevel.QUANTUM_SECURED and draw.fidelity == 0.9987


@pytest.mark.parametrize("case", ["wrong key", "tampered", "unsigned", "replayed"])
def test_pinned_key_refuses_a_bad_signature(case: str) -> None:
    pinned = Ed25519PrivateKey.generate()
    signer = Ed25519PrivateKey.generate() if case == "wrong key" else pinned
    handler = remote(
        None if case == "unsigned" else signer,
        tamper=case == "tampered",
        # Other bytes than the ones signed (e.g. an earlier answer replayed): the signature
        # covers this call's nonce and the exact body, so it fails.
        replay=b'{"entropy": "00"}' if case == "replayed" else None,
    )
    source = QcosApiSource(
        URL, "k", signing_key=pinned.public_key(), transport=httpx.MockTransport(handler)
    )
    service = service_for(source)
    draw = service.draw(32)
    assert draw.source == "cryptographic"  # the remote's answer was refused, not downgraded
    assert service.states["qcos_api"].reason == "response signature missing or invalid"


def test_signing_key_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_signing_key("bm90IGEga2V5")
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        EntropyService.from_settings("qcos_api", URL, None, qcos_api_signing_key="garbage!")


def test_simulator_is_credited_its_seed_not_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """#16 finding 14: Aer is a PRNG seeded with 63 bits per run; a run of 4096 bytes does not
    carry 0.9 * 32768 bits, and reads served from the same run's buffer carry nothing new."""
    runs: list[int] = []

    def fake_run(self: QiskitLocalSource, nbytes: int) -> bytes:
        runs.append(nbytes)
        return os.urandom(nbytes)

    monkeypatch.setattr(QiskitLocalSource, "_run", fake_run)
    monkeypatch.setattr("quantumlock.entropy.sources.qiskit_installed", lambda: True)
    source = QiskitLocalSource(16, batch_bytes=4096)
    service = EntropyService([source, CryptographicSource()])
    draws = [service.draw(64) for _ in range(6)]  # 128 raw bytes each, from one batch
    assert all(d.source == "qiskit_local" for d in draws)
    assert all(d.security_level is SecurityLevel.QUANTUM_SIMULATED for d in draws)
    total = sum(d.source_entropy_bits for d in draws)
    assert total <= SEED_BITS * len(runs)
    assert SEED_BITS == 63
    # The OS CSPRNG keeps its full credit (the conditioner mixes 512 bits per block of it).
    assert service.draw(64, source="cryptographic").source_entropy_bits == 8 * 128
