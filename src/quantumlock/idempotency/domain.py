"""The idempotency domain in one app: its service factory, clock and pruning."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.clock import utcnow
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.idempotency.service import IdempotencyService
from quantumlock.keyring.sealing import Sealer

if TYPE_CHECKING:
    from fastapi import Request

log = structlog.get_logger(__name__)

PRUNE_INTERVAL = 3600.0  # seconds; expired records are ignored before they are pruned


@dataclass
class IdempotencyDomain:
    sessions: sessionmaker[Session]
    sealer: Sealer
    # What "now" is for the 24 h window (tests give a fake clock).
    now: Callable[[], datetime] = field(default=utcnow)

    def service(self, session: Session) -> IdempotencyService:
        return IdempotencyService(session, self.sealer, self.now)

    def prune(self) -> int:
        with unit_of_work(self.sessions) as session:
            return self.service(session).prune()

    async def prune_loop(self) -> None:
        while True:
            try:
                pruned = await asyncio.to_thread(self.prune)
                if pruned:
                    log.info("idempotency_pruned", records=pruned)
            except Exception:  # the database is away: try again next time
                log.warning("idempotency_prune_failed", exc_info=True)
            await asyncio.sleep(PRUNE_INTERVAL)


def idempotency_of(request: Request) -> IdempotencyDomain:
    domain: IdempotencyDomain = request.app.state.idempotency
    return domain
