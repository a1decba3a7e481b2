"""Everything a running server process holds, built once from Settings."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from functools import cached_property

import structlog
from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.accounts.plans import RateLimit
from quantumlock.accounts.service import CHANGE_KIND_ACCOUNT
from quantumlock.auth.cache import KeyCache, UsageTracker
from quantumlock.auth.keys import KeyHasher
from quantumlock.auth.service import CHANGE_KIND_KEY, ApiKeyService
from quantumlock.crypto.cache import CHANGE_KIND_QUANTUM_KEY, KeyMaterialCache
from quantumlock.crypto.encryption import Encryptor
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.crypto.sealing import Sealer
from quantumlock.db.changes import ChangeFeed
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.entropy.service import EntropyService
from quantumlock.licensing.cache import ValidationCache, parse_change_ref
from quantumlock.licensing.service import CHANGE_KIND_LICENSE, SecretCache
from quantumlock.licensing.validation import LicenseValidator
from quantumlock.observability.logging import flush_logs
from quantumlock.observability.metrics import Metrics
from quantumlock.ratelimit import GcraLimiter, Limiter
from quantumlock.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    hasher: KeyHasher
    limiter: Limiter
    key_cache: KeyCache
    usage: UsageTracker
    changes: ChangeFeed
    metrics: Metrics
    auth_failure_limit: RateLimit
    sealer: Sealer
    secret_cache: SecretCache
    validation_cache: ValidationCache
    entropy: EntropyService
    key_material: KeyMaterialCache
    keygen: RsaKeygen  # RSA generation off the request threads, capped per account
    invocations: InvocationBudget = field(default_factory=InvocationBudget)  # AEAD counts
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
            nudges.install(sessions)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            hasher=settings.api_key_hasher(),
            limiter=limiter,
            key_cache=KeyCache(settings.key_cache_ttl),
            usage=UsageTracker(),
            changes=ChangeFeed(sessions, settings.change_poll_interval, nudges),
            metrics=metrics,
            auth_failure_limit=RateLimit(
                settings.auth_failures_per_minute, settings.auth_failures_burst
            ),
            sealer=settings.make_sealer(),
            secret_cache=SecretCache(),
            validation_cache=ValidationCache(settings.validation_cache_ttl),
            entropy=EntropyService.from_settings(
                settings.entropy_sources,
                settings.qcos_api_url,
                settings.qcos_api_key.get_secret_value() if settings.qcos_api_key else None,
                qcos_api_signing_key=settings.qcos_api_signing_key,
                qcos_api_trust_claims=settings.qcos_api_trust_claims,
            ),
            key_material=KeyMaterialCache(settings.key_material_cache_ttl),
            keygen=RsaKeygen(settings.keygen_workers, settings.expensive_calls_per_account),
        )
        runtime.entropy.bind_metrics(runtime.metrics.registry)
        runtime.changes.subscribe(runtime._on_change)
        return runtime

    @cached_property
    def validator(self) -> LicenseValidator:
        return LicenseValidator(
            self.validation_cache,
            self.sessions,
            self.sealer,
            self.secret_cache,
            entropy=self.entropy.draw,
            on_hit=self.metrics.validation_cache_hit.inc,
            on_miss=self.metrics.validation_cache_miss.inc,
        )

    @cached_property
    def encryptor(self) -> Encryptor:
        return Encryptor(
            self.key_material,
            self.invocations,
            self.entropy,
            self.sessions,
            self.sealer,
            self.keygen,
        )

    def _on_change(self, kind: str, ref: str) -> None:
        if kind == CHANGE_KIND_KEY:
            self.key_cache.invalidate_key(ref)
        elif kind == CHANGE_KIND_ACCOUNT:
            self.key_cache.invalidate_account(ref)
        elif kind == CHANGE_KIND_LICENSE:
            self.validation_cache.invalidate(*parse_change_ref(ref))
        elif kind == CHANGE_KIND_QUANTUM_KEY:
            self.key_material.invalidate(ref)

    def flush_usage(self) -> None:
        pending = self.usage.drain()
        if not pending:
            return
        try:
            with self.sessions() as session:
                ApiKeyService(session, self.hasher).record_last_used(pending)
        except Exception:
            self.usage.restore(pending)
            raise

    async def start(self) -> None:
        # One worker thread per pooled connection: more threads only queue for a
        # connection, and each extra thread contending for the GIL slows the event loop.
        to_thread.current_default_thread_limiter().total_tokens = self.settings.db_pool_size
        await self.changes.start()
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="usage-flush"))
        self._tasks.append(asyncio.create_task(self._log_flush_loop(), name="log-flush"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.changes.stop()
        try:
            await asyncio.to_thread(self.flush_usage)
        except Exception:
            log.warning("usage_flush_failed_at_shutdown", exc_info=True)
        try:
            # Background reloads under way finish before the engine goes (bounded: one
            # stuck on the database must not hold the shutdown). The caches' loads belong
            # to this event loop: closing them leaves nothing behind for another.
            await asyncio.wait_for(
                asyncio.gather(self.validation_cache.aclose(), self.key_cache.aclose()),
                timeout=5.0,
            )
        except Exception:
            log.warning("cache_close_failed_at_shutdown", exc_info=True)
        await self.limiter.close()
        self.engine.dispose()
        self.entropy.close()
        await asyncio.to_thread(self.keygen.close)
        flush_logs()

    async def _log_flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            flush_logs()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.last_used_flush_interval)
            try:
                await asyncio.to_thread(self.flush_usage)
            except Exception:
                log.warning("usage_flush_failed", exc_info=True)
