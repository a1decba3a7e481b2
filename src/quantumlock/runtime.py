"""The infrastructure a running server process holds, built once from Settings.

Database engine and sessions, limiter, metrics, change feed, sealer, entropy: nothing of a
domain. Each domain builds its own caches and background work when it installs
(`quantumlock.web.install`) and registers them here only to be started and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog
from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quantumlock import bootstrap
from quantumlock.core.counters import Counters
from quantumlock.db.changes import ChangeFeed
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.entropy.service import EntropyService
from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import Sealer
from quantumlock.observability.logging import flush_logs
from quantumlock.observability.metrics import Metrics
from quantumlock.ratelimit import GcraLimiter, Limiter
from quantumlock.ratelimit.base import RateLimit
from quantumlock.settings import Settings

log = structlog.get_logger(__name__)

Background = Callable[[], Coroutine[Any, Any, None]]
Shutdown = Callable[[], Awaitable[None]]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    hasher: KeyHasher
    limiter: Limiter
    changes: ChangeFeed
    metrics: Metrics
    auth_failure_limit: RateLimit  # the brute-force guard's, per client address
    sealer: Sealer
    entropy: EntropyService
    # Requests and 429s per (account, key, UTC epoch day): added on the request path
    # (quantumlock.web.security, web.errors), flushed by the auth domain.
    key_usage: Counters[tuple[str, str, int]] = field(default_factory=Counters)
    _background: list[tuple[str, Background]] = field(default_factory=list)
    _shutdown: list[tuple[str, Shutdown, float | None]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
        sessions = make_session_factory(engine)
        metrics = Metrics()
        limiter: Limiter = GcraLimiter()
        nudges = None
        if settings.redis_url:
            # Imported only here: a node without Redis never loads the client (cold start).
            from quantumlock.db.nudges import ChangeNudges
            from quantumlock.ratelimit.redis_backend import RedisLimiter

            limiter = RedisLimiter(
                settings.redis_url, prefix=settings.redis_prefix + "rl:", metrics=metrics
            )
            errors = metrics.redis_errors.labels("pubsub")
            nudges = ChangeNudges(settings.redis_url, settings.redis_prefix, on_error=errors.inc)
        changes = ChangeFeed(sessions, settings.change_poll_interval, nudges)
        changes.install(sessions)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            hasher=bootstrap.api_key_hasher(settings),
            limiter=limiter,
            changes=changes,
            metrics=metrics,
            auth_failure_limit=RateLimit(
                settings.auth_failures_per_minute, settings.auth_failures_burst
            ),
            sealer=bootstrap.make_sealer(settings),
            entropy=EntropyService.from_settings(
                settings.entropy_sources,
                settings.qcos_api_url,
                settings.qcos_api_key.get_secret_value() if settings.qcos_api_key else None,
                qcos_api_signing_key=settings.qcos_api_signing_key,
                qcos_api_trust_claims=settings.qcos_api_trust_claims,
            ),
        )
        runtime.entropy.bind_metrics(runtime.metrics.registry)
        return runtime

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """`with runtime.unit_of_work() as session:` commits at the end, or rolls back."""
        return unit_of_work(self.sessions)

    def background(self, name: str, run: Background) -> None:
        """Run `run()` as a task from start-up until shutdown (cancelled then)."""
        self._background.append((name, run))

    def on_shutdown(self, name: str, close: Shutdown, *, timeout: float | None = None) -> None:
        """Await `close()` at shutdown (at most `timeout` seconds), after the background
        tasks and the change feed stopped and before the engine goes; in the order
        registered. A step that fails is logged and the shutdown goes on."""
        self._shutdown.append((name, close, timeout))

    async def start(self) -> None:
        # One worker thread per pooled connection: more threads only queue for a
        # connection, and each extra thread contending for the GIL slows the event loop.
        to_thread.current_default_thread_limiter().total_tokens = self.settings.db_pool_size
        await self.changes.start()
        for name, run in self._background:
            self._tasks.append(asyncio.create_task(run(), name=name))
        self._tasks.append(asyncio.create_task(self._log_flush_loop(), name="log-flush"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.changes.stop()
        for name, close, timeout in self._shutdown:
            try:
                await asyncio.wait_for(close(), timeout=timeout)
            except Exception:
                log.warning(f"{name}_failed_at_shutdown", exc_info=True)
        await self.limiter.close()
        self.engine.dispose()
        self.entropy.close()
        flush_logs()

    async def _log_flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            flush_logs()
