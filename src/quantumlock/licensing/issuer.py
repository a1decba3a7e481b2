"""The API's generate path, served on the event loop.

A generate needs, from the database, only what signs (the account's HMAC secret and active
signing key, unsealed) and the quota count; the first is cached here per account and mode,
the second is decided by the group commit's conditional UPDATE. So a request takes no
worker thread of its own: the signatures (Ed25519 + ML-DSA-65, which release the GIL) run
in a small pool of signing threads, one per core, and the write in the group commit's one
writer thread (`AsyncLicenseWriter`). Profiled at 64 connections, the thread-per-request
form spent most of each request waiting: ten worker threads and the event loop handing the
GIL to one another around every statement, the pool half idle.

The cached material is dropped when a key is rotated or retired (a change of kind
`signing_key`, heard from every process through the change feed) and reloaded at the
latest after `ttl` seconds, so a key edited in the database stops signing within that.
An account whose quota is spent is remembered for a few seconds (per period and limit), so
a client hammering a spent quota is refused before anything is signed; the UPDATE stays the
authority, on one node or many.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from anyio import to_thread
from sqlalchemy.orm import Session

from quantumlock.accounts.plans import EffectiveLimits
from quantumlock.core.actor import Actor
from quantumlock.core.cache import MISS, LoadingCache
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import Conflict
from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing.models import License
from quantumlock.licensing.service import (
    KEY_ATTEMPTS,
    LicenseService,
    Quota,
    SecretCache,
    SigningMaterial,
    _quota_spent,
    period_of,
)
from quantumlock.licensing.writer import AsyncLicenseWriter, KeyTaken, QuotaRefused

MaterialKey = tuple[str, str]  # account id, mode
SPENT_FOR = 5.0  # seconds a refused (account, period, limit) is refused without signing
MAX_SPENT = 10_000


def signing_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class LicenseIssuer:
    def __init__(
        self,
        sessions: Callable[[], AbstractContextManager[Session]],
        sealer: Sealer,
        secrets: SecretCache,
        entropy: Callable[[int], Draw],
        writer: AsyncLicenseWriter,
        *,
        ttl: float = 30.0,
        threads: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.sealer = sealer
        self.secrets = secrets
        self.entropy = entropy
        self.writer = writer
        self.material: LoadingCache[MaterialKey, SigningMaterial] = LoadingCache(
            ttl, max_entries=50_000, clock=clock
        )
        self._signers = ThreadPoolExecutor(
            threads or signing_threads(), thread_name_prefix="license-signer"
        )
        self._spent: dict[tuple[str, str, int], float] = {}
        self._clock = clock

    async def generate(
        self,
        caller: Actor,
        limits: EffectiveLimits,
        *,
        end_customer_id: str,
        features: Sequence[str],
        valid_days: int,
        metadata: dict[str, Any],
        metadata_checked: bool = False,
        also: Callable[[Session, License, Quota | None], None] | None = None,
    ) -> tuple[License, Quota | None]:
        """A new license, signed and committed; the quota it left (None in test mode).
        Raises QuotaExceeded when the monthly quota has no room, ValidationFailed for bad
        metadata (`metadata_checked`: the caller's schema validated it already). `also`
        writes what must commit with the license, in its transaction (`Draft.bind`)."""
        now = utcnow()
        spent = self._spent_key(caller, limits, period_of(now))
        if spent is not None and self._spent.get(spent, 0.0) > self._clock():
            raise _quota_spent(limits, now)
        material = await self._material(caller.account_id, caller.mode)
        draft = material.draft(
            caller,
            limits,
            self.entropy,
            end_customer_id=end_customer_id,
            features=features,
            valid_days=valid_days,
            metadata=metadata,
            metadata_checked=metadata_checked,
        )
        loop = asyncio.get_running_loop()
        for _attempt in range(KEY_ATTEMPTS):
            new = draft.bind(await loop.run_in_executor(self._signers, draft.build), also)
            try:
                used = await self.writer.store(new)
            except KeyTaken:  # license key collision: new key
                continue
            except QuotaRefused:
                refused = self._spent_key(caller, limits, new.period or "")
                if refused is not None:
                    self._remember_spent(refused)
                raise draft.refused(new) from None
            return draft.outcome(new, used)
        raise Conflict("Could not allocate a unique license key; try again.")

    def forget(self, account_id: str, mode: str) -> None:
        """A signing key of this account and mode changed: load the material again."""
        self.material.discard((account_id, mode))

    async def aclose(self) -> None:
        await self.material.aclose()
        await self.writer.aclose()
        self._signers.shutdown(wait=True)

    async def _material(self, account_id: str, mode: str) -> SigningMaterial:
        key = (account_id, mode)
        cached, due = self.material.lookup(key)
        if cached is MISS or cached is None:
            loaded = await self.material.load(key, lambda: self._load(key))
            assert loaded is not None  # noqa: S101 (made on first use, never absent)
            return loaded
        if due:
            self.material.refresh(key, lambda: self._load(key))
        return cached

    async def _load(self, key: MaterialKey) -> SigningMaterial | None:
        return await to_thread.run_sync(self._load_from_database, key)

    def _load_from_database(self, key: MaterialKey) -> SigningMaterial:
        # A unit of work, not a bare read: an account's first license makes its secret and
        # signing key.
        with self.sessions() as session:
            service = LicenseService(session, self.sealer, self.secrets, self.entropy)
            return service.signing_material(*key)

    @staticmethod
    def _spent_key(
        caller: Actor, limits: EffectiveLimits, period: str
    ) -> tuple[str, str, int] | None:
        limit = limits.licenses_per_month
        if caller.mode != "live" or limit is None:
            return None
        return caller.account_id, period, limit

    def _remember_spent(self, key: tuple[str, str, int]) -> None:
        if len(self._spent) >= MAX_SPENT:
            self._spent.clear()
        self._spent[key] = self._clock() + SPENT_FOR
