"""The licensing domain in one app: its caches and service factory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.counters import Counters
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing.cache import ValidationCache
from quantumlock.licensing.issuer import LicenseIssuer
from quantumlock.licensing.service import LicenseService, SecretCache, ValidationCount
from quantumlock.licensing.validation import DAY_SECONDS, LicenseValidator, ValidationKey

if TYPE_CHECKING:
    from fastapi import Request

log = structlog.get_logger(__name__)


@dataclass
class LicensingDomain:
    sessions: sessionmaker[Session]
    sealer: Sealer
    entropy: Callable[[int], Draw]
    secret_cache: SecretCache
    validation_cache: ValidationCache
    # Online validation: the cache, its loads and the rules (quantumlock.licensing.validation).
    validator: LicenseValidator
    # The API's generate path (quantumlock.licensing.issuer), over `writer`.
    issuer: LicenseIssuer
    # Validations counted by `validator` (its `counts`), flushed every `flush_interval`
    # seconds into LicenseValidationDaily.
    validations: Counters[ValidationKey] = field(default_factory=Counters)
    flush_interval: float = 5.0

    def service(self, session: Session) -> LicenseService:
        return LicenseService(session, self.sealer, self.secret_cache, self.entropy)

    def flush_validations(self) -> int:
        """Add the validations counted since the last flush to the history, in one
        transaction; on failure the counts go back, for the next flush. Returns how many
        rows were written."""
        counts, last = self.validations.drain()
        if not counts:
            return 0
        rows = [
            ValidationCount(
                license_id=license_id,
                account_id=account_id,
                day=datetime.fromtimestamp(day * DAY_SECONDS, UTC).strftime("%Y-%m-%d"),
                code=str(code),
                count=amounts[0],
                last_at=last[(license_id, account_id, day, code)],
            )
            for (license_id, account_id, day, code), amounts in counts.items()
        ]
        try:
            with unit_of_work(self.sessions) as session:
                self.service(session).record_validations(rows)
        except Exception:
            self.validations.restore(counts, last)
            raise
        return len(rows)

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await asyncio.to_thread(self.flush_validations)
            except Exception:
                log.warning("validation_history_flush_failed", exc_info=True)

    async def flush_at_shutdown(self) -> None:
        await asyncio.to_thread(self.flush_validations)

    async def close(self) -> None:
        await self.validation_cache.aclose()
        await self.issuer.aclose()


def licensing_of(request: Request) -> LicensingDomain:
    licensing: LicensingDomain = request.app.state.licensing
    return licensing
