"""The validation cache's batched loads keep the invalidation rules (quantumlock.core.ttlcache)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from quantumlock.licensing.cache import CacheKey, Loaded, ValidationCache
from quantumlock.licensing.repository import LicenseView

KEY: CacheKey = ("cust_a", "live", "QLOCK-0000-0000-0001")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def view(status: str) -> LicenseView:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return LicenseView(
        KEY[2], KEY[0], KEY[1], "customer", ["core"], {}, status, 1, now, now, "00" * 64, False
    )


class Table:
    """What the database holds for KEY; loads read it when released (at the gate)."""

    def __init__(self) -> None:
        self.status = "active"
        self.gate = asyncio.Event()
        self.reads = 0

    async def load_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Loaded]:
        self.reads += 1
        await self.gate.wait()
        return {k: (view(self.status), b"secret") for k in keys}


@pytest.mark.anyio
async def test_a_miss_after_an_invalidation_never_joins_a_load_from_before_it() -> None:
    cache = ValidationCache(ttl=60.0)
    table = Table()
    before = asyncio.ensure_future(cache.load_once(KEY, table.load_many))
    await asyncio.sleep(0.01)  # its batch has started and waits on the database
    cache.invalidate(KEY[0], KEY[2])  # the license is revoked meanwhile
    after = asyncio.ensure_future(cache.load_once(KEY, table.load_many))
    await asyncio.sleep(0.01)
    assert table.reads == 2  # a load of its own, not the one from before
    table.status = "revoked"
    table.gate.set()
    await asyncio.gather(before, after)
    cached, _ = cache.lookup(KEY)
    assert cached is not None and cached.status == "revoked"


@pytest.mark.anyio
async def test_a_batched_miss_that_read_before_an_invalidation_is_not_cached() -> None:
    cache = ValidationCache(ttl=60.0)
    table = Table()
    loading = asyncio.ensure_future(cache.load_once(KEY, table.load_many))
    await asyncio.sleep(0.01)  # its batch has read the row (and waits at the gate)
    assert table.reads == 1
    cache.invalidate(KEY[0], KEY[2])  # between the read and the load's result
    table.gate.set()
    found, secret = await loading
    assert found is not None and secret == b"secret"  # the request gets its answer ...
    assert cache.lookup(KEY) == (None, False)  # ... but the row is not kept


@pytest.mark.anyio
async def test_concurrent_misses_for_one_license_share_one_load() -> None:
    cache = ValidationCache(ttl=60.0)
    table = Table()
    waiting = [asyncio.ensure_future(cache.load_once(KEY, table.load_many)) for _ in range(10)]
    await asyncio.sleep(0.01)
    table.gate.set()
    assert len({id(found) for found, _ in await asyncio.gather(*waiting)}) == 1
    assert table.reads == 1
