"""The API-key cache: refresh-ahead, one lookup per key at a time, no stale put after a revoke."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import cast

import pytest

from quantumlock.auth.cache import MISS, Found, KeyCache
from quantumlock.auth.principal import Principal


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [5000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def found(key_id: str = "key_a", account_id: str = "cust_a") -> Found:
    principal = cast("Principal", SimpleNamespace(key_id=key_id, account_id=account_id))
    return b"stored-hash", principal


def test_a_known_key_is_due_for_refresh_before_it_expires(clock: list[float]) -> None:
    cache = KeyCache(ttl=30.0)
    entry = found()
    cache.put(b"digest", entry)
    assert cache.lookup(b"digest") == (entry, False)
    clock[0] += 23  # past three quarters of the TTL
    assert cache.lookup(b"digest") == (entry, True)
    clock[0] += 8  # past the TTL
    assert cache.lookup(b"digest") == (MISS, False)


def test_unknown_keys_are_remembered_but_never_refreshed(clock: list[float]) -> None:
    cache = KeyCache(ttl=30.0)
    cache.put(b"nope", None)
    clock[0] += 29
    assert cache.lookup(b"nope") == (None, False)


def test_a_lookup_that_began_before_a_revocation_does_not_put_the_key_back(
    clock: list[float],
) -> None:
    cache = KeyCache(ttl=30.0)
    invalidations: tuple[Callable[[], object], ...] = (
        lambda: cache.invalidate_key("key_a"),
        lambda: cache.invalidate_account("cust_a"),
        cache.clear,
    )
    for invalidate in invalidations:
        started = cache.generation
        invalidate()
        cache.put(b"digest", found(), generation=started)
        assert cache.lookup(b"digest")[0] is MISS


@pytest.mark.anyio
async def test_concurrent_misses_for_one_key_share_one_lookup(clock: list[float]) -> None:
    cache = KeyCache(ttl=30.0)
    lookups = 0
    release = asyncio.Event()

    async def lookup() -> Found:
        nonlocal lookups
        lookups += 1
        await release.wait()
        return found()

    waiters = [asyncio.ensure_future(cache.load_once(b"digest", lookup)) for _ in range(64)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters)
    assert lookups == 1 and all(r == found() for r in results)
    assert cache.lookup(b"digest")[0] == found()


@pytest.mark.anyio
async def test_a_background_refresh_replaces_the_entry(clock: list[float]) -> None:
    cache = KeyCache(ttl=30.0)
    cache.put(b"digest", found(account_id="cust_old"))
    clock[0] += 23

    async def lookup() -> Found:
        return found(account_id="cust_new")

    cache.refresh(b"digest", lookup)
    for _ in range(5):
        await asyncio.sleep(0)
    entry, due = cache.lookup(b"digest")
    assert cast("tuple[bytes, Principal]", entry)[1].account_id == "cust_new" and not due


@pytest.mark.anyio
async def test_a_miss_after_a_revocation_does_not_join_a_lookup_that_began_before_it(
    clock: list[float],
) -> None:
    cache = KeyCache(ttl=30.0)
    release = asyncio.Event()
    answers = iter([found(account_id="cust_before"), None])  # read before, then after a revoke

    async def lookup() -> Found:
        answer = next(answers)
        await release.wait()
        return answer

    before = asyncio.ensure_future(cache.load_once(b"digest", lookup))
    await asyncio.sleep(0)
    cache.invalidate_key("key_a")  # the key is revoked while the first lookup is in flight
    after = asyncio.ensure_future(cache.load_once(b"digest", lookup))
    release.set()
    assert cast("tuple[bytes, Principal]", await before)[1].account_id == "cust_before"
    assert await after is None  # its own lookup, which sees the revocation
    assert cache.lookup(b"digest") == (None, False)


def test_a_reload_that_finds_the_key_gone_drops_the_cached_principal(clock: list[float]) -> None:
    cache = KeyCache(ttl=30.0)
    cache.put(b"digest", found())
    cache.put(b"digest", None, generation=cache.generation)
    assert cache.lookup(b"digest") == (None, False)
