"""The licensing domain in one app: its caches and service factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing.cache import CacheKey, ValidationCache
from quantumlock.licensing.repository import LicenseView
from quantumlock.licensing.service import LicenseService, SecretCache
from quantumlock.licensing.writer import LicenseWriter


@dataclass
class LicensingDomain:
    sessions: sessionmaker[Session]
    sealer: Sealer
    entropy: Callable[[int], Draw]
    secret_cache: SecretCache
    validation_cache: ValidationCache
    # The process's group commit for new licenses (quantumlock.licensing.writer).
    writer: LicenseWriter

    def service(self, session: Session) -> LicenseService:
        return LicenseService(session, self.sealer, self.secret_cache, self.entropy)

    async def load_many(
        self, keys: Sequence[CacheKey]
    ) -> dict[CacheKey, tuple[LicenseView, bytes]]:
        """The validation cache's loads (a batch of misses, or of entries due for refresh):
        the rows found, in one worker-thread hop and one query per account and mode."""
        return await run_in_threadpool(self.load_many_from_database, keys)

    def load_many_from_database(
        self, keys: Sequence[CacheKey]
    ) -> dict[CacheKey, tuple[LicenseView, bytes]]:
        # A unit of work, not a bare read: an account's first validation may create its
        # HMAC secret. Not the request's: a background refresh outlives its request.
        with unit_of_work(self.sessions) as session:
            return self.service(session).load_many_for_validation(keys)

    async def close(self) -> None:
        await self.validation_cache.aclose()


def licensing_of(request: Request) -> LicensingDomain:
    licensing: LicensingDomain = request.app.state.licensing
    return licensing
