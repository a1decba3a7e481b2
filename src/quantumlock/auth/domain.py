"""The auth domain in one app: its key cache, last-used tracking and service factory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.auth.cache import KeyCache, UsageTracker
from quantumlock.auth.service import ApiKeyService
from quantumlock.auth.usage import KeyUsageService, UsageKey
from quantumlock.core.counters import Counters
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.keyring.hasher import KeyHasher

log = structlog.get_logger(__name__)


if TYPE_CHECKING:
    from fastapi import Request


@dataclass
class AuthDomain:
    sessions: sessionmaker[Session]
    hasher: KeyHasher
    key_cache: KeyCache
    flush_interval: float
    usage: UsageTracker = field(default_factory=UsageTracker)
    # Requests and 429s per key and day (quantumlock.auth.usage): the runtime's, which the
    # request path adds to.
    key_usage: Counters[UsageKey] = field(default_factory=Counters)

    def service(self, session: Session) -> ApiKeyService:
        return ApiKeyService(session, self.hasher)

    def flush_usage(self) -> None:
        pending = self.usage.drain()
        if not pending:
            return
        try:
            with unit_of_work(self.sessions) as session:
                self.service(session).record_last_used(pending)
        except Exception:
            self.usage.restore(pending)
            raise

    def flush_key_usage(self) -> None:
        counts, last = self.key_usage.drain()
        if not counts:
            return
        try:
            with unit_of_work(self.sessions) as session:
                KeyUsageService(session).record(counts)
        except Exception:
            self.key_usage.restore(counts, last)  # the next flush tries them again
            raise

    def flush_all(self) -> None:
        """Both batches; one failing does not keep the other from being written."""
        try:
            self.flush_usage()
        finally:
            self.flush_key_usage()

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await asyncio.to_thread(self.flush_all)
            except Exception:
                log.warning("usage_flush_failed", exc_info=True)

    async def close(self) -> None:
        await asyncio.to_thread(self.flush_all)


def auth_of(request: Request) -> AuthDomain:
    auth: AuthDomain = request.app.state.auth
    return auth
