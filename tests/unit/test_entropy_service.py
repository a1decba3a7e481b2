"""EntropyService and its sources: fallback, health states, conditioning, qcos_api, qiskit_local.

A broken device is played by `ScriptedSource` (an external source whose output the test
sets: stuck, biased or fine) and by the fake QCOS HTTP service; the service, the health
tests, the conditioner and the real sources are the real ones.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

from quantumlock.core.errors import QuantumUnavailable
from quantumlock.entropy.conditioner import BLOCK, RAW_PER_BLOCK, Conditioner, raw_bytes_needed
from quantumlock.entropy.service import EntropyService
from quantumlock.entropy.sources import (
    CircuitBreaker,
    CryptographicSource,
    QcosApiSource,
    QiskitLocalSource,
    SourceOptions,
    build_sources,
    qiskit_installed,
)
from quantumlock.entropy.types import RawSample, SecurityLevel
from tests.fakes.qcos_entropy import FAKE_KEY, BiasedBits, FakeQcos, running_fake_qcos


class ScriptedSource:
    """An external device whose raw output the test controls."""

    security_level = SecurityLevel.QUANTUM_SECURED
    min_entropy = 1.0

    def __init__(self, name: str = "device") -> None:
        self.name = name
        self.mode = "ok"
        self.reads = 0
        self.last_raw = b""
        self.biased = BiasedBits(0.85)

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {}

    def read(self, nbytes: int) -> RawSample:
        self.reads += 1
        if self.mode == "broken":
            raise RuntimeError("driver crashed")
        if self.mode == "stuck":
            data = b"\xaa" * (nbytes - 8) + bytes(8)  # ends in 64 zero bits
        elif self.mode == "biased":
            data = self.biased.take(nbytes)
        else:
            data = os.urandom(nbytes)
        self.last_raw = data
        return RawSample(data, qubits=5, fidelity=0.99)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_qcos() -> Iterator[FakeQcos]:
    with running_fake_qcos() as fake:
        yield fake


def test_draw_reports_the_source_and_never_returns_raw_bits() -> None:
    device = ScriptedSource()
    service = EntropyService([device, CryptographicSource()])
    draw = service.draw(32)
    assert draw.source == "device" and len(draw.data) == 32
    assert draw.security_level is SecurityLevel.QUANTUM_SECURED and draw.quantum_verified
    assert draw.qubits == 5 and draw.fidelity == 0.99 and draw.job_id.startswith("job_")
    assert device.reads == 2  # the start-up test, then the draw
    assert len(device.last_raw) == raw_bytes_needed(32) == RAW_PER_BLOCK
    assert draw.data not in device.last_raw
    assert repr(draw.data) not in repr(draw)  # key material stays out of log lines


@pytest.mark.parametrize("mode", ["stuck", "biased"])
def test_unhealthy_source_is_skipped_then_readmitted_after_a_new_startup_test(mode: str) -> None:
    clock = Clock()
    device = ScriptedSource()
    service = EntropyService([device, CryptographicSource()], retry_after=30, clock=clock)
    assert service.draw(16).source == "device"
    device.mode = mode
    # 16 windows: the APT's reference bit is the window's first, so one window of a biased
    # stream passes with probability 0.15; sixteen in a row with about 1e-13.
    draw = service.draw(1024)  # the device fails its continuous tests: fall back
    assert draw.source == "cryptographic" and draw.security_level is SecurityLevel.CRYPTOGRAPHIC
    assert not draw.quantum_verified and draw.fidelity is None and draw.qubits is None
    state = service.states["device"]
    assert not state.healthy and state.failed
    expected = "repetition count" if mode == "stuck" else "adaptive proportion"
    assert state.reason is not None and expected in state.reason
    report = service.health()
    assert report.backends == ["cryptographic"]
    assert not report.sources["device"].healthy and expected in (
        report.sources["device"].reason or ""
    )
    with pytest.raises(QuantumUnavailable, match="unhealthy"):
        service.draw(8, source="device")
    # Not retried before the back-off ends, even though it would be fine now.
    device.mode = "ok"
    reads = device.reads
    assert service.draw(8).source == "cryptographic" and device.reads == reads
    clock.now += 31
    assert service.draw(8).source == "device"
    assert device.reads == reads + 2  # a new start-up test, then the draw
    assert service.health().backends == ["device", "cryptographic"]


def test_a_crashing_source_is_unavailable_not_an_error() -> None:
    device = ScriptedSource()
    device.mode = "broken"
    service = EntropyService([device, CryptographicSource()])
    assert service.draw(8).source == "cryptographic"
    assert service.states["device"].reason == "read failed (RuntimeError)"
    with pytest.raises(QuantumUnavailable, match=r"read failed \(RuntimeError\)"):
        service.draw(8, source="device")


def test_a_failing_startup_test_keeps_the_source_out() -> None:
    device = ScriptedSource()
    device.mode = "stuck"
    service = EntropyService([device, CryptographicSource()])
    assert service.draw(8).source == "cryptographic"
    assert device.reads == 1 and service.states["device"].failed


def test_forced_source_and_no_source_are_quantum_unavailable() -> None:
    service = EntropyService(["qcos_api", "cryptographic"])  # no URL
    with pytest.raises(QuantumUnavailable, match="QL_QCOS_API_URL is not set"):
        service.draw(8, source="qcos_api")
    with pytest.raises(QuantumUnavailable, match="not enabled"):
        service.draw(8, source="qiskit_local")
    assert service.draw(8).source == "cryptographic"
    device = ScriptedSource()
    device.mode = "stuck"
    with pytest.raises(QuantumUnavailable, match="No entropy source"):
        EntropyService([device]).draw(8)
    with pytest.raises(ValueError):
        service.draw(0)


def test_unknown_source_names_are_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="Unknown entropy source"):
        EntropyService.from_settings("cryptographic,quantum_magic", None, None)
    with pytest.raises(ValueError, match="twice"):
        build_sources(["cryptographic", "cryptographic"], SourceOptions())


def test_conditioner_mixes_counter_and_os_randomness() -> None:
    conditioner = Conditioner()
    raw = bytes(range(256)) * (raw_bytes_needed(100) // 256) + bytes(raw_bytes_needed(100) % 256)
    a = conditioner.condition(raw, 100, "x")
    b = conditioner.condition(raw, 100, "x")
    assert len(a) == 100 and a != b  # same raw input, different output
    assert a[:36] != a[BLOCK:]  # blocks differ (counter), even over identical raw chunks
    with pytest.raises(ValueError):
        conditioner.condition(raw[:-1], 100, "x")


def test_cryptographic_draws_are_distinct_and_balanced() -> None:
    service = EntropyService(["cryptographic"])
    data = b"".join(service.draw(4096).data for _ in range(8))
    ones = sum(bin(b).count("1") for b in data)
    assert abs(ones - len(data) * 4) < 6 * (len(data) * 2) ** 0.5  # 6 sigma
    assert len({service.draw(16).data for _ in range(50)}) == 50


# -- qcos_api against the fake service -----------------------------------------------------


def test_qcos_hardware_answer_is_quantum_verified(fake_qcos: FakeQcos) -> None:
    # Plain http: only the operator's attestation makes the claim count (see
    # test_entropy_provenance.py for the signed https path and the untrusted one).
    source = QcosApiSource(fake_qcos.url, FAKE_KEY, trust_claims=True)
    service = EntropyService([source, CryptographicSource()])
    draw = service.draw(512)  # 1024 raw bytes: two calls of 4096 bits
    assert draw.source == "qcos_api" and draw.quantum_verified
    assert draw.security_level is SecurityLevel.QUANTUM_SECURED
    assert draw.fidelity == 0.9987 and draw.qubits == 127 and draw.job_id.startswith("job_qcos_")
    assert source.latency_ms is not None
    fake_qcos.hardware = False  # the remote says it used no quantum device
    draw = service.draw(32)
    assert draw.source == "qcos_api" and not draw.quantum_verified
    assert draw.security_level is SecurityLevel.CRYPTOGRAPHIC
    assert draw.fidelity is None and draw.qubits is None


def test_qcos_wrong_key_and_malformed_answers_fall_back(fake_qcos: FakeQcos) -> None:
    service = EntropyService([QcosApiSource(fake_qcos.url, "wrong-key"), CryptographicSource()])
    assert service.draw(8).source == "cryptographic"
    assert service.states["qcos_api"].reason == "HTTP 401"
    fake_qcos.mode = "malformed"
    source = QcosApiSource(fake_qcos.url, FAKE_KEY)
    with pytest.raises(QuantumUnavailable, match="malformed response"):
        EntropyService([source]).draw(8, source="qcos_api")


def test_qcos_stuck_output_fails_the_health_tests(fake_qcos: FakeQcos) -> None:
    fake_qcos.mode = "stuck"
    service = EntropyService([QcosApiSource(fake_qcos.url, FAKE_KEY), CryptographicSource()])
    assert service.draw(32).source == "cryptographic"
    assert "repetition count" in (service.states["qcos_api"].reason or "")


def test_qcos_circuit_breaker_and_timeouts(fake_qcos: FakeQcos) -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    source = QcosApiSource(fake_qcos.url, FAKE_KEY, read_timeout=0.2, breaker=breaker)
    service = EntropyService([source, CryptographicSource()])
    fake_qcos.mode, fake_qcos.delay = "slow", 0.5
    for _ in range(3):
        assert service.draw(8).source == "cryptographic"
    assert service.states["qcos_api"].reason == "timed out"
    assert not source.available()
    assert "circuit breaker open after 3 consecutive failures" in (
        source.unavailable_reason() or ""
    )
    calls = fake_qcos.calls
    assert service.draw(8).source == "cryptographic" and fake_qcos.calls == calls  # no call
    fake_qcos.mode = "ok"
    clock.now += 31  # half-open: one trial call, which succeeds and closes the breaker
    assert source.available()
    assert service.draw(8).source == "qcos_api"
    assert breaker.opened_at is None and breaker.failures == 0


def test_health_tries_a_hanging_remote_once(fake_qcos: FakeQcos) -> None:
    source = QcosApiSource(fake_qcos.url, FAKE_KEY, read_timeout=0.2)
    service = EntropyService([source, CryptographicSource()])
    fake_qcos.mode, fake_qcos.delay = "slow", 0.5
    report = service.health()
    assert fake_qcos.calls == 1  # the start-up attempt; the test draw does not retry it
    assert report.backends == ["cryptographic"]
    assert report.test_draw is not None and report.test_draw.source == "cryptographic"
    assert report.sources["qcos_api"].reason == "timed out"


def test_half_open_failure_reopens_at_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.failure()
    assert not breaker.allows()
    clock.now += 30
    breaker.before_call()  # the trial
    with pytest.raises(Exception, match="open"):
        breaker.before_call()  # only one trial at a time
    breaker.failure()
    assert breaker.retry_in() == 30


def test_unreachable_qcos_is_reported_not_raised() -> None:
    source = QcosApiSource("http://127.0.0.1:9", FAKE_KEY)  # discard port: refused
    service = EntropyService([source, CryptographicSource()])
    assert service.draw(8).source == "cryptographic"
    assert (service.states["qcos_api"].reason or "").startswith("unreachable")
    assert FAKE_KEY not in (service.states["qcos_api"].reason or "")


# -- qiskit_local ----------------------------------------------------------------------------

needs_qiskit = pytest.mark.skipif(not qiskit_installed(), reason="the [quantum] extra")


@needs_qiskit
def test_qiskit_local_is_simulated_and_health_tested() -> None:
    source = QiskitLocalSource(16)
    raw = source.read(256)
    assert len(raw.data) == 256 and raw.qubits == 16
    service = EntropyService([source, CryptographicSource()])
    draw = service.draw(64)
    assert draw.source == "qiskit_local" and draw.qubits == 16
    assert draw.security_level is SecurityLevel.QUANTUM_SIMULATED
    assert not draw.quantum_verified and draw.fidelity is None
    assert service.states["qiskit_local"].tests.samples >= 4096 + 8 * raw_bytes_needed(64)
    report = service.health()
    assert report.sources["qiskit_local"].details == {"simulator": "aer_simulator", "qubits": 16}


@needs_qiskit
def test_qiskit_runs_are_freshly_seeded_and_batches_hand_out_each_bit_once() -> None:
    unbatched = QiskitLocalSource(8, batch_bytes=1)  # every read is its own run
    assert unbatched.read(64).data != unbatched.read(64).data
    batched = QiskitLocalSource(16, batch_bytes=4096)
    reads = [batched.read(32).data for _ in range(200)]  # spans two simulator runs
    assert len(set(reads)) == 200
    joined = b"".join(reads)
    assert all(joined.count(r) == 1 for r in reads[::20])


def test_qiskit_missing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # sources looks qiskit up through the process's importlib.util: patch it there.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    source = QiskitLocalSource()
    assert not source.available()
    assert "not installed" in (source.unavailable_reason() or "")
    service = EntropyService([source, CryptographicSource()])
    assert service.draw(8).source == "cryptographic"
