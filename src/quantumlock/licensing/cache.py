"""A short-lived, per-process cache of the license rows online validation reads.

A shipped application validates the same license again and again (at start-up, on a
timer); serving those from memory keeps them on the event loop, with no worker thread and
no query. Lifecycle changes (revoke, suspend, reinstate, renew) remove the entry at once in
this process and, through the change feed, in every other one within the poll interval.
The HMAC over a row is checked each time the row is loaded. A row edited directly in the
database, bypassing the service, is seen once its entry expires: the TTL (QL_VALIDATION_CACHE_TTL,
2 s by default, 0 disables the cache) bounds that window. Entries in use are reloaded in the
background before they expire, gathered into batches: one query per account for the
entries that fell due within a tenth of the TTL (at most 0.25 s), and one per account for
the misses of requests that arrive together (see `quantumlock.core.ttlcache`).
"""

from __future__ import annotations

from quantumlock.core.ttlcache import BatchedLoads, BatchedRefresh, CacheLoads, LoadMany, TtlCache
from quantumlock.licensing.repository import LicenseView

CacheKey = tuple[str, str, str]  # account id, mode, license key
Loaded = tuple[LicenseView | None, bytes]  # the row (None: no such license), account secret


class ValidationCache(TtlCache[CacheKey, LicenseView]):
    def __init__(self, ttl: float, max_entries: int = 200_000) -> None:
        super().__init__(ttl, max_entries)
        self._loads: CacheLoads[CacheKey, Loaded | None] = CacheLoads(
            lambda: self.generation, self._store
        )
        self._misses: BatchedLoads[CacheKey, Loaded] = BatchedLoads(group=_tenant)
        # A tenth of the TTL, at most 0.25 s: an entry falls due with a quarter of its TTL
        # left at the least, and is queued at its first hit after that.
        self._refreshes: BatchedRefresh[CacheKey, Loaded] = BatchedRefresh(
            min(ttl / 10, 0.25), lambda: self.generation, self._store, group=_tenant
        )

    def _store(self, key: CacheKey, loaded: Loaded | None, generation: int) -> None:
        view = loaded[0] if loaded is not None else None
        if view is not None:
            self.put(key, view, generation=generation)
        else:
            self.forget(key, generation=generation)

    async def load_once(
        self,
        key: CacheKey,
        load_many: LoadMany[CacheKey, Loaded],
    ) -> Loaded:
        """A miss: concurrent misses for one key share a single load instead of all querying
        (but never one that began before the latest invalidation), and the misses for other
        keys asked for in the same turn of the event loop are loaded with it, in one call of
        `load_many` (which returns the rows it found)."""
        loaded = await self._loads.load(key, lambda: self._misses.get(key, load_many))
        return loaded if loaded is not None else (None, b"")

    def refresh(
        self,
        key: CacheKey,
        load_many: LoadMany[CacheKey, Loaded],
    ) -> None:
        """An entry due for refresh: keep serving it, and reload it in the background with
        the others that fall due meanwhile (`load_many` returns the rows it found)."""
        self._refreshes.add(key, load_many)

    async def aclose(self) -> None:
        """At shutdown: no more background reloads, and the loads under way (reloads, and
        misses of requests cut off by the graceful-shutdown timeout) finish first."""
        await self._refreshes.aclose()
        await self._misses.aclose()

    def invalidate(self, account_id: str, license_key: str) -> None:
        self.discard((account_id, "live", license_key), (account_id, "test", license_key))


def _tenant(key: CacheKey) -> tuple[str, str]:
    """Loads are batched per account and mode: one tenant's keys never share a query (nor
    a failure) with another's."""
    return key[0], key[1]


def change_ref(account_id: str, license_key: str) -> str:
    return f"{account_id}:{license_key}"


def parse_change_ref(ref: str) -> tuple[str, str]:
    account_id, _, license_key = ref.partition(":")
    return account_id, license_key
