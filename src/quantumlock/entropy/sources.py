"""The entropy sources: `cryptographic`, `qiskit_local`, `qcos_api`, and a name registry.

A source only *reads* raw bytes. Health tests, conditioning and fallback are the
EntropyService's job, so a source never decides on its own that its bits are good.
A source that is not installed or not reachable says so (`available()` / `unavailable_reason()`,
or SourceUnavailable from `read`); it never takes the service down.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from quantumlock.entropy.types import EntropySource, RawSample, SecurityLevel, SourceUnavailable

if TYPE_CHECKING:
    import httpx

SEED_BITS = 63  # what one simulator run carries: Aer's seed_simulator is a non-negative int64
REMOTE_MAX_BITS = 4096  # per call: the reference's limit for /api/v1/quantum/entropy
NONCE_HEADER = "X-QCOS-Nonce"
SIGNATURE_HEADER = "X-QCOS-Signature"
SIGNATURE_DOMAIN = b"QCOS-ENTROPY-v1\x00"
JOB_ID_PATTERN = re.compile(r"job_[A-Za-z0-9_\-]{1,64}")


class CryptographicSource:
    """The OS CSPRNG. Tested like the others: a broken `os.urandom` must not go unnoticed."""

    name = "cryptographic"
    security_level = SecurityLevel.CRYPTOGRAPHIC
    min_entropy = 1.0  # designed to be indistinguishable from uniform

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {}

    def ready(self, nbytes: int) -> bool:
        """The OS CSPRNG never blocks once the system is up."""
        return True

    def read(self, nbytes: int) -> RawSample:
        return RawSample(os.urandom(nbytes))


# -- qiskit_local -----------------------------------------------------------------------------

_QISKIT_LOCK = threading.Lock()  # Aer's simulator object is shared by every service in a process
_QISKIT_CACHE: dict[int, tuple[Any, Any]] = {}  # qubits -> (AerSimulator, transpiled circuit)


def qiskit_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("qiskit", "qiskit_aer"))


def simulator_and_circuit(qubits: int) -> tuple[Any, Any]:
    """Import qiskit lazily; build, transpile and cache the circuit once per process."""
    with _QISKIT_LOCK:
        cached = _QISKIT_CACHE.get(qubits)
        if cached is None:
            qiskit = importlib.import_module("qiskit")
            aer = importlib.import_module("qiskit_aer")
            simulator = aer.AerSimulator()
            circuit = qiskit.QuantumCircuit(qubits)
            circuit.h(range(qubits))
            circuit.measure_all()
            cached = (simulator, qiskit.transpile(circuit, simulator))
            _QISKIT_CACHE[qubits] = cached
        return cached


class QiskitLocalSource:
    """Hadamard on every qubit, measure all, on the Aer simulator.

    Honest about what it is: a simulator is a pseudo-random generator whose output is fixed
    by its seed (a fresh 63-bit seed from os.urandom per run). Its bits earn
    QUANTUM_SIMULATED, never `quantum_verified`, and no fidelity (a simulator measures none).

    Two different numbers, kept apart on purpose:
    * `min_entropy` (0.9) only sets the health tests' cut-offs: it describes the *statistics*
      of the stream (the ideal circuit gives one unbiased bit per measurement, 0.9 leaves a
      margin), which is what the repetition-count and adaptive-proportion tests look at.
    * the entropy it is *credited* (`RawSample.credited_bits`) is what the seed carries:
      `SEED_BITS` (63) per simulator run, however many bits the run produced, and nothing
      for later reads served from the same run's buffer. The conditioner's OS CSPRNG input
      (512 bits per 64-byte block) is what makes the output full-entropy.

    Runs are batched: one simulator run costs ~4 ms of fixed overhead whatever its size, so
    each run makes at least `batch_bytes` and later reads take from that buffer, in order,
    each bit once. The health tests still see one continuous stream (the service tests
    bytes as they are handed out), and a read never returns bits another read returned.
    """

    name = "qiskit_local"
    security_level = SecurityLevel.QUANTUM_SIMULATED
    min_entropy = 0.9  # health-test cut-offs only; see the class docstring
    simulator_name = "aer_simulator"

    def __init__(self, qubits: int = 16, batch_bytes: int = 4096) -> None:
        if not 1 <= qubits <= 30:  # AerSimulator's default width limit
            raise ValueError("qubits must be 1-30")
        self.qubits = qubits
        self.batch_bytes = batch_bytes
        self._error: str | None = None
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self._error is None and qiskit_installed()

    def unavailable_reason(self) -> str | None:
        if self._error is not None:
            return self._error
        if not qiskit_installed():
            return "qiskit and qiskit-aer are not installed (pip install 'quantumlock[quantum]')"
        return None

    def describe(self) -> dict[str, Any]:
        return {"simulator": self.simulator_name, "qubits": self.qubits}

    def ready(self, nbytes: int) -> bool:
        """A read of `nbytes` would come from the buffer, without a simulator run."""
        return len(self._buffer) >= nbytes

    def read(self, nbytes: int) -> RawSample:
        credited = 0
        with self._lock:
            if len(self._buffer) < nbytes:
                self._buffer += self._run(max(self.batch_bytes, nbytes - len(self._buffer)))
                credited = SEED_BITS  # the run's whole entropy, credited to its first read
            data = bytes(self._buffer[:nbytes])
            del self._buffer[:nbytes]
        return RawSample(data, qubits=self.qubits, credited_bits=min(credited, 8 * nbytes))

    def _run(self, nbytes: int) -> bytes:
        """`nbytes` fresh bytes from one simulator run."""
        if not qiskit_installed():
            raise SourceUnavailable(self.unavailable_reason())
        try:
            simulator, circuit = simulator_and_circuit(self.qubits)
        except Exception as exc:  # a broken install: report it, keep serving from the others
            self._error = f"qiskit could not be loaded ({type(exc).__name__})"
            raise SourceUnavailable(self._error) from exc
        bits_needed = nbytes * 8
        shots = math.ceil(bits_needed / self.qubits)
        # Aer takes a non-negative int64: SEED_BITS bits, all the entropy this run carries.
        seed = int.from_bytes(os.urandom(8), "big") >> (64 - SEED_BITS)
        try:
            with _QISKIT_LOCK:
                result = simulator.run(
                    circuit, shots=shots, memory=True, seed_simulator=seed
                ).result()
            memory: list[str] = result.get_memory()
        except Exception as exc:
            raise SourceUnavailable(f"simulator run failed ({type(exc).__name__})") from exc
        bits = "".join(memory).replace(" ", "")[:bits_needed]
        if len(bits) != bits_needed:
            raise SourceUnavailable("simulator returned too few measurements")
        return int(bits, 2).to_bytes(nbytes, "big")


# -- qcos_api ---------------------------------------------------------------------------------


class CircuitBreaker:
    """Open after `threshold` consecutive failures; after `cooldown` s let one trial through."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    def retry_in(self) -> float:
        """Seconds until a trial call is allowed; 0 when closed or half-open."""
        with self._lock:
            if self.opened_at is None:
                return 0.0
            return max(0.0, self.cooldown - (self.clock() - self.opened_at))

    def allows(self) -> bool:
        return self.retry_in() == 0.0

    def before_call(self) -> None:
        with self._lock:
            if self.opened_at is None:
                return
            if self.clock() - self.opened_at < self.cooldown or self._trial:
                raise SourceUnavailable("circuit breaker open")
            self._trial = True  # half-open: this caller is the one trial

    def success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._trial or self.failures >= self.threshold:
                self.opened_at, self._trial = self.clock(), False


def _public_url(url: str) -> str:
    """The URL without any user:password part, for reports."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class _Chunk:
    data: bytes
    level: SecurityLevel
    qubits: int | None
    fidelity: float | None
    job_id: str | None
    proven: bool


class QcosApiSource:
    """A QCOS-compatible remote entropy service (`POST {url}/api/v1/quantum/entropy`).

    A remote's claim is believed only when it can be shown (docs/quantum-api.md):

    * proven: the URL is `https` and the response carries `X-QCOS-Signature`, the base64
      Ed25519 signature, under the key pinned in QL_QCOS_API_SIGNING_KEY, of
      `b"QCOS-ENTROPY-v1\\0" + nonce + b"\\0" + <the exact response body bytes>`, where
      `nonce` is the `X-QCOS-Nonce` request header (32 hex characters, fresh per call, so a
      recorded response cannot be replayed); or the operator vouches for the remote with
      QL_QCOS_API_TRUST_CLAIMS=true (an attestation, documented as such).
      Then `quantum_verified: true` / `security_level: "QUANTUM_SECURED"` -> QUANTUM_SECURED;
      `QUANTUM_SIMULATED` (or `source: "qiskit_local"`) -> QUANTUM_SIMULATED; anything
      else -> CRYPTOGRAPHIC. Fidelity and qubits are passed through for quantum levels.
    * not proven (plain http, no pinned key, no trust): CRYPTOGRAPHIC whatever it claims,
      no fidelity or qubits, and credited no entropy: bits of unknown origin, made safe only
      by the conditioner's OS CSPRNG input.
    * a pinned key and a missing or wrong signature: the response is refused (a failure that
      counts towards the circuit breaker), since something between us and the remote lies.

    Health-test min-entropy 0.8 per bit: hardware qubits carry readout bias (a few per cent).
    """

    name = "qcos_api"
    security_level = SecurityLevel.QUANTUM_SECURED
    min_entropy = 0.8

    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        breaker: CircuitBreaker | None = None,
        signing_key: Ed25519PublicKey | None = None,
        trust_claims: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.signing_key = signing_key
        self.trust_claims = trust_claims
        self.https = self.url is not None and urlsplit(self.url).scheme == "https"
        self.breaker = breaker or CircuitBreaker()
        self.latency_ms: int | None = None
        self.last_error: str | None = None
        self._client: httpx.Client | None = None
        if self.url is not None:
            # Only a configured source loads httpx and builds its TLS context (~0.1 s of a
            # cold start otherwise spent on a client that can never be used).
            import httpx

            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            self._client = httpx.Client(
                timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
                headers=headers,
                follow_redirects=False,
                transport=transport,
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def available(self) -> bool:
        return self.url is not None and self.breaker.allows()

    def unavailable_reason(self) -> str | None:
        if self.url is None:
            return "QL_QCOS_API_URL is not set"
        wait = self.breaker.retry_in()
        if wait > 0:
            return (
                f"circuit breaker open after {self.breaker.threshold} consecutive failures "
                f"(last: {self.last_error}); next try in {math.ceil(wait)} s"
            )
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "url": _public_url(self.url) if self.url else None,
            "latency_ms": self.latency_ms,
        }

    def read(self, nbytes: int) -> RawSample:
        if self.url is None:
            raise SourceUnavailable("QL_QCOS_API_URL is not set")
        chunks: list[_Chunk] = []
        remaining = nbytes
        while remaining > 0:
            take = min(remaining, REMOTE_MAX_BITS // 8)
            chunks.append(self._call(take))
            remaining -= take
        levels = [c.level for c in chunks]
        level = min(levels, key=_LEVEL_ORDER.index)  # the weakest chunk speaks for all
        fidelities = [c.fidelity for c in chunks if c.fidelity is not None]
        qubits = [c.qubits for c in chunks if c.qubits is not None]
        data = b"".join(c.data for c in chunks)
        return RawSample(
            data,
            qubits=max(qubits) if qubits else None,
            fidelity=min(fidelities) if fidelities else None,
            job_id=chunks[0].job_id,
            security_level=level,
            # Bits of a remote we cannot vouch for are credited nothing.
            credited_bits=None if all(c.proven for c in chunks) else 0.0,
        )

    def _fail(self, reason: str) -> SourceUnavailable:
        self.last_error = reason
        self.breaker.failure()
        return SourceUnavailable(reason)

    def _call(self, nbytes: int) -> _Chunk:
        import httpx  # loaded with the client, in __init__

        if self._client is None:
            raise SourceUnavailable("QL_QCOS_API_URL is not set")
        self.breaker.before_call()
        started = time.perf_counter()
        nonce = secrets.token_hex(16)
        try:
            resp = self._client.post(
                f"{self.url}/api/v1/quantum/entropy",
                json={"bits": nbytes * 8, "encoding": "hex"},
                headers={NONCE_HEADER: nonce},
            )
        except httpx.TimeoutException:
            raise self._fail("timed out") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._fail(f"unreachable ({type(exc).__name__})") from None
        self.latency_ms = round((time.perf_counter() - started) * 1000)
        if resp.status_code != 200:
            raise self._fail(f"HTTP {resp.status_code}")
        signed = False
        if self.signing_key is not None:
            if not response_signature_valid(
                self.signing_key, nonce, resp.content, resp.headers.get(SIGNATURE_HEADER)
            ):
                raise self._fail("response signature missing or invalid")
            signed = True
        proven = self.trust_claims or (signed and self.https)
        try:
            chunk = _parse(resp.json(), nbytes, proven=proven)
        except (ValueError, TypeError, KeyError):
            raise self._fail("malformed response") from None
        self.last_error = None
        self.breaker.success()
        return chunk


_LEVEL_ORDER = [
    SecurityLevel.CRYPTOGRAPHIC,
    SecurityLevel.QUANTUM_SIMULATED,
    SecurityLevel.QUANTUM_SECURED,
]


def signed_message(nonce: str, body: bytes) -> bytes:
    """The bytes a QCOS remote signs for one response (see QcosApiSource)."""
    return SIGNATURE_DOMAIN + nonce.encode("ascii") + b"\x00" + body


def response_signature_valid(
    key: Ed25519PublicKey, nonce: str, body: bytes, header: str | None
) -> bool:
    if not header:
        return False
    try:
        key.verify(base64.b64decode(header, validate=True), signed_message(nonce, body))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_signing_key(text: str) -> Ed25519PublicKey:
    """QL_QCOS_API_SIGNING_KEY: an Ed25519 public key, PEM or base64 of its 32 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("QL_QCOS_API_SIGNING_KEY is not an Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("QL_QCOS_API_SIGNING_KEY is not an Ed25519 public key")
    return key


def _parse(body: Any, nbytes: int, *, proven: bool) -> _Chunk:
    if not isinstance(body, dict):
        raise ValueError("not an object")
    entropy = body["entropy"]
    if not isinstance(entropy, str) or len(entropy) != 2 * nbytes:
        raise ValueError("wrong length")
    data = bytes.fromhex(entropy)
    if body.get("quantum_verified") is True or body.get("security_level") == "QUANTUM_SECURED":
        level = SecurityLevel.QUANTUM_SECURED
    elif body.get("security_level") == "QUANTUM_SIMULATED" or body.get("source") == "qiskit_local":
        level = SecurityLevel.QUANTUM_SIMULATED
    else:
        level = SecurityLevel.CRYPTOGRAPHIC
    if not proven:
        level = SecurityLevel.CRYPTOGRAPHIC  # a claim we cannot check is not reported
    fidelity = body.get("fidelity")
    if fidelity is not None and not (
        isinstance(fidelity, int | float) and not isinstance(fidelity, bool) and 0 <= fidelity <= 1
    ):
        raise ValueError("bad fidelity")
    qubits = body.get("qubits")
    if qubits is not None and not (
        isinstance(qubits, int) and not isinstance(qubits, bool) and qubits > 0
    ):
        raise ValueError("bad qubits")
    job_id = body.get("job_id")
    job = job_id if isinstance(job_id, str) and JOB_ID_PATTERN.fullmatch(job_id) else None
    if level is SecurityLevel.CRYPTOGRAPHIC:
        fidelity, qubits = None, None  # no quantum source measured anything
    return _Chunk(data, level, qubits, None if fidelity is None else float(fidelity), job, proven)


# -- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOptions:
    qcos_api_url: str | None = None
    qcos_api_key: str | None = None
    qiskit_qubits: int = 16
    qcos_api_signing_key: Ed25519PublicKey | None = None
    qcos_api_trust_claims: bool = False


SourceFactory = Callable[[SourceOptions], EntropySource]

SOURCES: dict[str, SourceFactory] = {
    "qcos_api": lambda o: QcosApiSource(
        o.qcos_api_url,
        o.qcos_api_key,
        signing_key=o.qcos_api_signing_key,
        trust_claims=o.qcos_api_trust_claims,
    ),
    "qiskit_local": lambda o: QiskitLocalSource(o.qiskit_qubits),
    "cryptographic": lambda o: CryptographicSource(),
}
KNOWN_SOURCES = ("qcos_api", "qiskit_local", "cryptographic")


def register_source(name: str, factory: SourceFactory) -> None:
    """Make `name` usable in QL_ENTROPY_SOURCES (a plug-in point for other sources)."""
    SOURCES[name] = factory


def build_sources(names: list[str], options: SourceOptions) -> list[EntropySource]:
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(
            f"Unknown entropy source(s) {', '.join(unknown)} in QL_ENTROPY_SOURCES; "
            f"known: {', '.join(SOURCES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError("QL_ENTROPY_SOURCES names a source twice")
    return [SOURCES[n](options) for n in names]
