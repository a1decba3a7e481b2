"""A short-lived, per-process cache of the license rows online validation reads.

A shipped application validates the same license again and again (at start-up, on a
timer); serving those from memory keeps them on the event loop, with no worker thread and
no query. Lifecycle changes (revoke, suspend, reinstate, renew) remove the entry at once in
this process and, through the change feed, in every other one within the poll interval.
The HMAC over a row is checked each time the row is loaded. A row edited directly in the
database, bypassing the service, is seen once its entry expires: the TTL (QL_VALIDATION_CACHE_TTL,
2 s by default, 0 disables the cache) bounds that window. Entries in use are reloaded in the
background before they expire, gathered into batches: one query per account and mode for
the entries that fell due within a tenth of the TTL (at most 0.25 s), and one per account
and mode for the misses of requests that arrive together (see `quantumlock.core.cache`).
"""

from __future__ import annotations

import time

from quantumlock.core.cache import Clock, LoadingCache
from quantumlock.licensing.repository import LicenseView

CacheKey = tuple[str, str, str]  # account id, mode, normalised license key
# The row and its account's HMAC secret, cached together: a hit needs nothing else.
Loaded = tuple[LicenseView, bytes]


class ValidationCache(LoadingCache[CacheKey, Loaded]):
    def __init__(
        self, ttl: float, max_entries: int = 200_000, *, clock: Clock = time.monotonic
    ) -> None:
        # A refresh window of a tenth of the TTL, at most 0.25 s: an entry falls due with a
        # quarter of its TTL left at the least, and is queued at its first hit after that.
        super().__init__(
            ttl,
            max_entries=max_entries,
            group=_tenant,
            refresh_window=min(ttl / 10, 0.25),
            clock=clock,
        )

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
