"""The licensing domain in one app: its caches and service factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing.cache import ValidationCache
from quantumlock.licensing.issuer import LicenseIssuer
from quantumlock.licensing.service import LicenseService, SecretCache
from quantumlock.licensing.validation import LicenseValidator

if TYPE_CHECKING:
    from fastapi import Request


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

    def service(self, session: Session) -> LicenseService:
        return LicenseService(session, self.sealer, self.secret_cache, self.entropy)

    async def close(self) -> None:
        await self.validation_cache.aclose()
        await self.issuer.aclose()


def licensing_of(request: Request) -> LicensingDomain:
    licensing: LicensingDomain = request.app.state.licensing
    return licensing
