"""Online license validation: the cached row, its refresh, and the rules, in one object.

A cached row is judged on the event loop (and reloaded in the background when due); a
miss takes one worker thread, shared by every concurrent request for the same license and
by the other misses that arrived with it (`quantumlock.core.cache`). The rules themselves
are `licensing.service.evaluate`, the same for a cached row and a freshly loaded one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from anyio import to_thread
from sqlalchemy.orm import Session

from quantumlock.core.cache import MISS
from quantumlock.core.counters import Counters
from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing.cache import CacheKey, Loaded, ValidationCache
from quantumlock.licensing.repository import LicenseView
from quantumlock.licensing.service import (
    Code,
    LicenseService,
    SecretCache,
    Validation,
    evaluate,
    normalise_key,
)

__all__ = ["LicenseValidator", "Validation", "ValidationKey"]

NOT_FOUND = Validation(Code.NOT_FOUND, None)
DAY_SECONDS = 86_400

# What a validation is counted under: (license id, account id, UTC day number since the
# epoch, result code). The day as a number: a string per validation would cost a strftime.
ValidationKey = tuple[str, str, int, Code]


def _uncounted() -> None:
    return None


class LicenseValidator:
    def __init__(
        self,
        cache: ValidationCache,
        sessions: Callable[[], AbstractContextManager[Session]],
        sealer: Sealer,
        secrets: SecretCache,
        *,
        entropy: Callable[[int], Draw] | None = None,
        on_hit: Callable[[], None] = _uncounted,
        on_miss: Callable[[], None] = _uncounted,
        counts: Counters[ValidationKey] | None = None,
    ) -> None:
        """`sessions` opens the session a load reads in (in a worker thread); `entropy` is
        LicenseService's; `on_hit`/`on_miss` count cache hits and misses (the metrics);
        `counts` counts each validation of a license found, by day and result, in memory
        (the licensing domain flushes them into LicenseValidationDaily)."""
        self.cache = cache
        self.sessions = sessions
        self._sealer = sealer
        self._secrets = secrets
        self._entropy = entropy
        self._on_hit = on_hit
        self._on_miss = on_miss
        self._loader = self._load_many  # bound once: not a new method object per miss
        self._counts = counts
        # (second, day number, that second as a datetime): remade once a second, not per
        # validation (a datetime per call cost more than the count itself).
        self._clock: tuple[int, int, datetime] = (-1, 0, datetime.fromtimestamp(0, UTC))

    async def validate(
        self,
        account_id: str,
        mode: str,
        license_key: str,
        end_customer_id: str,
        required_features: Sequence[str] = (),
    ) -> Validation:
        """Writes nothing: validation is the shipped app's hot path. Each validation of a
        license that exists is counted in memory (`counts`); NOT_FOUND names no license."""
        key = (account_id, mode, normalise_key(license_key))
        cached, due = self.cache.lookup(key)
        loaded: Loaded | None
        if cached is MISS or cached is None:
            self._on_miss()
            loaded = await self.cache.load_batched(key, self._loader)
            if loaded is None:
                return NOT_FOUND
        else:
            self._on_hit()
            loaded = cached
            if due:
                self.cache.refresh_batched(key, self._loader)
        result = evaluate(loaded[0], loaded[1], end_customer_id, required_features)
        if self._counts is not None:
            self._count(self._counts, loaded[0], result.code)
        return result

    def _count(self, counts: Counters[ValidationKey], lic: LicenseView, code: Code) -> None:
        now = int(time.time())
        clock = self._clock
        if clock[0] != now:
            clock = self._clock = (now, now // DAY_SECONDS, datetime.fromtimestamp(now, UTC))
        counts.add((lic.id, lic.account_id, clock[1], code), 1, at=clock[2])

    async def _load_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Loaded]:
        """A batch of misses, or of entries due for refresh: the rows found, in one
        worker-thread hop and one query per account and mode."""
        return await to_thread.run_sync(self._load_from_database, keys)

    def _load_from_database(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Loaded]:
        with self.sessions() as session:
            service = LicenseService(session, self._sealer, self._secrets, self._entropy)
            return service.load_many_for_validation(keys)
