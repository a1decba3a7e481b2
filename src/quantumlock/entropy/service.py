"""EntropyService: health-tested, conditioned draws with ordered fallback over the sources.

For each draw, sources are tried in QL_ENTROPY_SOURCES order (or only the forced one):

1. skipped while not available (not installed, no URL, circuit breaker open) or while
   unhealthy and its back-off has not run out;
2. a source that is not yet healthy first passes an SP 800-90B start-up test on
   `STARTUP_BITS` fresh bits (discarded);
3. the read's raw bits go through the continuous tests; a failure marks the source
   unhealthy for `retry_after` seconds (then it must pass a new start-up test) and the draw
   moves on to the next source;
4. passed bits are conditioned with the OS CSPRNG (conditioner.py): nothing raw leaves.

A forced source that cannot deliver raises QuantumUnavailable (503) and is never replaced by
another. Each source has a lock: its health tests follow one stream, so reads from one source
are serialised (different sources run in parallel).
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import structlog
from prometheus_client import CollectorRegistry, Counter

from quantumlock.core.errors import QuantumUnavailable
from quantumlock.entropy.conditioner import Conditioner, raw_bytes_needed
from quantumlock.entropy.health import STARTUP_BITS, HealthTestFailure, HealthTests
from quantumlock.entropy.sources import (
    JOB_ID_PATTERN,
    SourceOptions,
    build_sources,
    load_signing_key,
)
from quantumlock.entropy.types import (
    Draw,
    EntropySource,
    RawSample,
    SecurityLevel,
    SourceUnavailable,
)

log = structlog.get_logger(__name__)

MAX_DRAW_BYTES = 1024 * 1024
DEFAULT_RETRY_AFTER = 30.0  # seconds an unhealthy source is left alone before a new start-up


@dataclass
class SourceState:
    source: EntropySource
    tests: HealthTests
    lock: threading.Lock = field(default_factory=threading.Lock)
    healthy: bool = False  # passed a start-up test and every continuous test since
    failed: bool = False  # failed a health test; waits for `retry_at`
    reason: str | None = None  # why it is unhealthy, or the last read error
    retry_at: float = 0.0


@dataclass(frozen=True)
class SourceHealth:
    name: str
    available: bool
    healthy: bool
    reason: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class HealthReport:
    backends: list[str]  # usable now, in fallback order
    sources: dict[str, SourceHealth]
    test_draw: Draw | None

    @property
    def available(self) -> bool:
        return bool(self.backends)


class EntropyService:
    def __init__(
        self,
        sources: Sequence[EntropySource | str],
        *,
        options: SourceOptions | None = None,
        retry_after: float = DEFAULT_RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sources` in fallback order: source objects, or registry names built with `options`."""
        options = options or SourceOptions()
        built: list[EntropySource] = []
        for item in sources:
            built.extend(build_sources([item], options) if isinstance(item, str) else [item])
        names = [s.name for s in built]
        if len(set(names)) != len(names):
            raise ValueError("an entropy source is listed twice")
        self.states = {s.name: SourceState(s, HealthTests(s.min_entropy)) for s in built}
        self.names = names
        self.retry_after = retry_after
        self.clock = clock
        self.conditioner = Conditioner()
        self._draws: Counter | None = None
        self._failures: Counter | None = None
        self._credited: Counter | None = None

    @classmethod
    def from_settings(
        cls,
        names: str,
        qcos_api_url: str | None,
        qcos_api_key: str | None,
        *,
        qcos_api_signing_key: str | None = None,
        qcos_api_trust_claims: bool = False,
    ) -> EntropyService:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        pinned = load_signing_key(qcos_api_signing_key) if qcos_api_signing_key else None
        options = SourceOptions(
            qcos_api_url,
            qcos_api_key,
            qcos_api_signing_key=pinned,
            qcos_api_trust_claims=qcos_api_trust_claims,
        )
        return cls(wanted, options=options)

    def bind_metrics(self, registry: CollectorRegistry) -> None:
        self._draws = Counter(
            "quantumlock_entropy_draws_total",
            "Conditioned entropy draws by the source that delivered them.",
            ["source"],
            registry=registry,
        )
        self._failures = Counter(
            "quantumlock_entropy_health_failures_total",
            "SP 800-90B health-test failures by source and test.",
            ["source", "test"],
            registry=registry,
        )
        self._credited = Counter(
            "quantumlock_entropy_credited_bits_total",
            "Entropy credited to each source's raw bits (what it can be shown to carry; "
            "the OS CSPRNG input to the conditioner comes on top).",
            ["source"],
            registry=registry,
        )

    def close(self) -> None:
        """Release what sources hold (qcos_api's HTTP connection pool)."""
        for state in self.states.values():
            close = getattr(state.source, "close", None)
            if callable(close):
                close()

    # -- drawing ---------------------------------------------------------------------------

    def draw(self, nbytes: int, *, source: str | None = None) -> Draw:
        """`nbytes` conditioned bytes from `source`, or from the first healthy source.

        Blocks (HTTP, simulator): call it from a worker thread. A forced source that cannot
        deliver raises QuantumUnavailable (503); so does running out of sources.
        """
        if not 1 <= nbytes <= MAX_DRAW_BYTES:
            raise ValueError(f"nbytes must be 1-{MAX_DRAW_BYTES}")
        if source is not None:
            state = self.states.get(source)
            if state is None:
                raise QuantumUnavailable(
                    f"Entropy source {source!r} is not enabled (QL_ENTROPY_SOURCES)."
                )
            try:
                return self._draw_from(state, nbytes)
            except SourceUnavailable as exc:
                raise QuantumUnavailable(
                    f"Entropy source {source!r} is unavailable: {exc}."
                ) from None
        return self._first_healthy(nbytes, skip=())

    def _first_healthy(self, nbytes: int, skip: Sequence[str]) -> Draw:
        reasons = []
        for name in self.names:
            if name in skip:
                continue
            try:
                return self._draw_from(self.states[name], nbytes)
            except SourceUnavailable as exc:
                reasons.append(f"{name}: {exc}")
        raise QuantumUnavailable("No entropy source is available (" + "; ".join(reasons) + ").")

    def draw_nowait(self, nbytes: int, *, source: str | None = None) -> Draw | None:
        """The draw `draw` would make, if it needs no blocking work, else None.

        Blocking work is a network call, a simulator run, a start-up test, or waiting for
        another thread's read of the same source. The source is the one `draw` would pick
        (the first usable in order, or the forced one), never a faster substitute, so a
        caller on the event loop may use this first and fall back to `draw` in a thread.
        """
        if not 1 <= nbytes <= MAX_DRAW_BYTES:
            raise ValueError(f"nbytes must be 1-{MAX_DRAW_BYTES}")
        if source is not None:
            forced = self.states.get(source)
            candidates = [forced] if forced is not None else []
        else:
            candidates = [self.states[name] for name in self.names]
        raw_needed = raw_bytes_needed(nbytes)
        for state in candidates:
            src = state.source
            if not src.available() or (state.failed and self.clock() < state.retry_at):
                if source is not None:
                    return None  # `draw` reports why
                continue  # `draw` would skip it too
            ready = getattr(src, "ready", None)
            if not state.healthy or ready is None or not ready(raw_needed):
                return None
            if not state.lock.acquire(blocking=False):
                return None
            try:
                raw = self._read_tested(state, raw_needed)
            except SourceUnavailable:
                return None  # recorded; `draw` moves on to the next source
            finally:
                state.lock.release()
            return self._finish(state, raw, nbytes)
        return None

    async def draw_async(self, nbytes: int, *, source: str | None = None) -> Draw:
        """`draw` for a caller on the event loop: there when it needs no blocking work, else
        in a worker thread, so a slow source never holds the loop."""
        done = self.draw_nowait(nbytes, source=source)
        if done is not None:
            return done
        return await anyio.to_thread.run_sync(functools.partial(self.draw, nbytes, source=source))

    def _draw_from(self, state: SourceState, nbytes: int) -> Draw:
        with state.lock:
            self._admit(state)
            raw = self._read_tested(state, raw_bytes_needed(nbytes))
        return self._finish(state, raw, nbytes)

    def _finish(self, state: SourceState, raw: RawSample, nbytes: int) -> Draw:
        src = state.source
        data = self.conditioner.condition(raw.data, nbytes, src.name)
        level = raw.security_level or src.security_level
        quantum = level is not SecurityLevel.CRYPTOGRAPHIC
        credited = (
            raw.credited_bits
            if raw.credited_bits is not None
            else 8 * len(raw.data) * src.min_entropy
        )
        if self._draws is not None:
            self._draws.labels(src.name).inc()
        if self._credited is not None:
            self._credited.labels(src.name).inc(credited)
        return Draw(
            data=data,
            source=src.name,
            security_level=level,
            quantum_verified=level is SecurityLevel.QUANTUM_SECURED,
            fidelity=raw.fidelity if quantum else None,
            qubits=raw.qubits if quantum else None,
            job_id=raw.job_id
            if raw.job_id and JOB_ID_PATTERN.fullmatch(raw.job_id)
            else "job_" + secrets.token_hex(8),
            source_entropy_bits=credited,
        )

    def _admit(self, state: SourceState) -> None:
        """Raise SourceUnavailable unless the source may be read now (caller holds the lock)."""
        src = state.source
        if not src.available():
            raise SourceUnavailable(src.unavailable_reason() or "unavailable")
        if state.failed and self.clock() < state.retry_at:
            raise SourceUnavailable(f"unhealthy: {state.reason}")
        if not state.healthy:
            state.tests.reset()
            self._read_tested(state, STARTUP_BITS // 8)  # start-up test; the bits are dropped
            state.healthy, state.failed, state.reason = True, False, None
            log.info("entropy_source_healthy", source=src.name)

    def _read_tested(self, state: SourceState, nbytes: int) -> RawSample:
        src = state.source
        try:
            raw = src.read(nbytes)
            if len(raw.data) != nbytes:
                raise SourceUnavailable(f"short read ({len(raw.data)} of {nbytes} bytes)")
            state.tests.feed(raw.data)
        except HealthTestFailure as exc:
            state.healthy, state.failed, state.reason = False, True, str(exc)
            state.retry_at = self.clock() + self.retry_after
            if self._failures is not None:
                self._failures.labels(src.name, str(exc).split(" test")[0]).inc()
            log.warning("entropy_source_unhealthy", source=src.name, reason=str(exc))
            raise SourceUnavailable(f"unhealthy: {exc}") from None
        except SourceUnavailable as exc:
            state.reason = str(exc)
            raise
        except Exception as exc:  # a plug-in source's bug must not take the service down
            state.reason = f"read failed ({type(exc).__name__})"
            log.warning("entropy_source_error", source=src.name, error=type(exc).__name__)
            raise SourceUnavailable(state.reason) from None
        return raw

    # -- health ----------------------------------------------------------------------------

    def health(self, test_bytes: int = 8) -> HealthReport:
        """Per-source state (starting up sources that can be), plus one small fallback draw."""
        failed_now: list[str] = []
        for name, state in self.states.items():
            if not state.healthy:
                try:
                    with state.lock:
                        self._admit(state)
                except SourceUnavailable:
                    failed_now.append(name)  # reported below; not tried again right now
        try:
            # Skipping what just failed keeps a hanging remote from costing two timeouts.
            test_draw: Draw | None = self._first_healthy(test_bytes, skip=failed_now)
        except QuantumUnavailable:
            test_draw = None
        sources: dict[str, SourceHealth] = {}
        backends: list[str] = []
        for name in self.names:
            state = self.states[name]
            usable = state.source.available()
            healthy = usable and state.healthy
            if healthy:
                backends.append(name)
            reason = None
            if not usable:
                reason = state.source.unavailable_reason()
            elif not healthy:
                reason = state.reason
            # `available` is the reference's "can deliver now": a source that is configured
            # but unreachable, or whose bits failed the health tests, cannot.
            sources[name] = SourceHealth(name, healthy, healthy, reason, state.source.describe())
        return HealthReport(backends, sources, test_draw)
