"""The validation cache's batched loads keep the invalidation rules (quantumlock.core.cache)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from quantumlock.core.cache import MISS
from quantumlock.licensing.cache import CacheKey, Loaded, ValidationCache
from quantumlock.licensing.repository import LicenseView
from tests.fakes.clock import FakeClock, on_fake_time, turns

KEY: CacheKey = ("cust_a", "live", "QLOCK-0000-0000-0001")


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


@on_fake_time
async def test_a_miss_after_an_invalidation_never_joins_a_load_from_before_it(
    clock: FakeClock,
) -> None:
    cache = ValidationCache(ttl=60.0, clock=clock)
    table = Table()
    before = asyncio.ensure_future(cache.load_batched(KEY, table.load_many))
    await turns()  # its batch has started and waits on the database
    cache.invalidate(KEY[0], KEY[2])  # the license is revoked meanwhile
    after = asyncio.ensure_future(cache.load_batched(KEY, table.load_many))
    await turns()
    assert table.reads == 2  # a load of its own, not the one from before
    table.status = "revoked"
    table.gate.set()
    await asyncio.gather(before, after)
    cached, _ = cache.lookup(KEY)
    assert cached is not MISS and cached is not None and cached[0].status == "revoked"


@on_fake_time
async def test_a_batched_miss_that_read_before_an_invalidation_is_not_cached(
    clock: FakeClock,
) -> None:
    cache = ValidationCache(ttl=60.0, clock=clock)
    table = Table()
    loading = asyncio.ensure_future(cache.load_batched(KEY, table.load_many))
    await turns()  # its batch has read the row (and waits at the gate)
    assert table.reads == 1
    cache.invalidate(KEY[0], KEY[2])  # between the read and the load's result
    table.gate.set()
    loaded = await loading
    assert loaded is not None
    found, secret = loaded
    assert found is not None and secret == b"secret"  # the request gets its answer ...
    assert cache.lookup(KEY) == (MISS, False)  # ... but the row is not kept


@on_fake_time
async def test_concurrent_misses_for_one_license_share_one_load(clock: FakeClock) -> None:
    cache = ValidationCache(ttl=60.0, clock=clock)
    table = Table()
    waiting = [asyncio.ensure_future(cache.load_batched(KEY, table.load_many)) for _ in range(10)]
    await turns()
    table.gate.set()
    loaded = await asyncio.gather(*waiting)
    assert len({id(one[0]) for one in loaded if one is not None}) == 1 and None not in loaded
    assert table.reads == 1
