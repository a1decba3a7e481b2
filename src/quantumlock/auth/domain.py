"""The auth domain in one app: its key cache, last-used tracking and service factory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.auth.cache import KeyCache, UsageTracker
from quantumlock.auth.service import ApiKeyService
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

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await asyncio.to_thread(self.flush_usage)
            except Exception:
                log.warning("usage_flush_failed", exc_info=True)

    async def close(self) -> None:
        await asyncio.to_thread(self.flush_usage)


def auth_of(request: Request) -> AuthDomain:
    auth: AuthDomain = request.app.state.auth
    return auth
