"""The one loading cache (quantumlock.core.cache), on a fake clock: no test sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from quantumlock.core.cache import MISS, LoadingCache
from tests.fakes.clock import FakeClock, elapse, on_fake_time, turns


def cache_of(clock: FakeClock, ttl: float = 60.0, **options: object) -> LoadingCache[str, str]:
    return LoadingCache(ttl, max_entries=10, clock=clock, **options)  # type: ignore[arg-type]


def test_entries_expire_after_the_ttl(clock: FakeClock) -> None:
    cache: LoadingCache[str, int] = LoadingCache(2.0, max_entries=10, clock=clock)
    cache.put("a", 1)
    clock.advance(1.9)
    assert cache.get("a") == 1
    clock.advance(0.2)
    assert cache.get("a") is None


def test_a_zero_ttl_disables_it(clock: FakeClock) -> None:
    cache: LoadingCache[str, int] = LoadingCache(0, max_entries=10, clock=clock)
    cache.put("a", 1)
    assert not cache.enabled and cache.get("a") is None


def test_a_full_cache_drops_expired_entries_first_then_starts_over(clock: FakeClock) -> None:
    cache: LoadingCache[int, int] = LoadingCache(1.0, max_entries=3, clock=clock)
    cache.put(1, 1)
    clock.advance(0.5)
    cache.put(2, 2)
    cache.put(3, 3)
    clock.advance(0.6)  # 1 has expired, 2 and 3 have not
    cache.put(4, 4)
    assert [cache.get(k) for k in (1, 2, 3, 4)] == [None, 2, 3, 4]
    cache.put(5, 5)  # full of live entries: starts over
    assert [cache.get(k) for k in (2, 3, 4, 5)] == [None, None, None, 5]


def test_discard_and_discard_where(clock: FakeClock) -> None:
    cache: LoadingCache[tuple[str, str], int] = LoadingCache(5.0, max_entries=10, clock=clock)
    for i, key in enumerate([("a", "x"), ("a", "y"), ("b", "x")]):
        cache.put(key, i)
    cache.discard(("a", "x"), ("zz", "missing"))
    assert cache.get(("a", "x")) is None and cache.get(("a", "y")) == 1
    cache.discard_where(lambda key, _value: key[1] == "x")
    assert cache.get(("b", "x")) is None and cache.get(("a", "y")) == 1
    cache.discard_where(lambda _key, value: value == 1)
    assert cache.get(("a", "y")) is None


def test_an_entry_is_due_for_refresh_between_half_and_three_quarters_of_its_ttl(
    clock: FakeClock,
) -> None:
    cache: LoadingCache[str, int] = LoadingCache(2.0, max_entries=10, clock=clock)
    cache.put("a", 1)
    assert cache.lookup("a") == (1, False)
    clock.advance(0.99)  # before half the TTL: never due
    assert cache.lookup("a") == (1, False)
    clock.advance(0.51)  # past three quarters: always due, still served
    assert cache.lookup("a") == (1, True)
    clock.advance(0.6)  # past the TTL: gone, whatever was due
    assert cache.lookup("a") == (MISS, False)


def test_refresh_points_are_spread_so_entries_loaded_together_are_not_reloaded_together(
    clock: FakeClock,
) -> None:
    cache: LoadingCache[int, int] = LoadingCache(2.0, max_entries=1000, clock=clock)
    for i in range(200):
        cache.put(i, i)
    due_at = []
    for step in range(1, 101):  # walk from 0.5 to 0.75 of the TTL in 100 steps
        clock.now = 1000.0 + 1.0 + step * 0.005
        due_at.append(sum(bool(cache.lookup(i)[1]) for i in range(200)))
    # Not one instant: the count of due entries climbs over the window.
    assert due_at[0] < 20 and due_at[-1] == 200
    assert len(set(due_at)) > 20


def test_keys_known_absent_are_remembered_only_with_max_absent_and_never_due(
    clock: FakeClock,
) -> None:
    plain = cache_of(clock, ttl=30.0)
    plain.put("a", "A")
    plain.put("a", None)  # a reload found it gone: the old value is not served on
    assert plain.lookup("a") == (MISS, False)
    remembering = cache_of(clock, ttl=30.0, max_absent=2)
    for key in "abc":
        remembering.put(key, None)
    clock.advance(29)
    assert [remembering.lookup(k) for k in "abc"] == [(MISS, False), (None, False), (None, False)]
    remembering.put("b", "B")  # found after all
    assert remembering.lookup("b") == ("B", False)
    clock.advance(2)
    assert remembering.lookup("c") == (MISS, False)


def test_a_put_from_a_load_that_began_before_an_invalidation_is_dropped(
    clock: FakeClock,
) -> None:
    cache = cache_of(clock, ttl=5.0)
    started = cache.generation  # a load reads the row ...
    cache.discard("lic")  # ... the license is revoked meanwhile ...
    cache.put("lic", "active (stale)", generation=started)  # ... and the load finishes
    assert cache.get("lic") is None
    cache.put("lic", "revoked", generation=cache.generation)
    assert cache.get("lic") == "revoked"
    started = cache.generation
    cache.discard_where(lambda _key, _value: False)
    cache.put("lic", "stale again", generation=started)
    assert cache.get("lic") == "revoked"
    started = cache.generation
    cache.clear()
    cache.put("lic", "stale again", generation=started)
    assert cache.get("lic") is None


@on_fake_time
async def test_single_flight_shares_one_load_between_concurrent_callers(clock: FakeClock) -> None:
    cache = cache_of(clock)
    calls = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "42"

    waiters = [asyncio.ensure_future(cache.load("k", load)) for _ in range(10)]
    await turns(1)
    cache.refresh("k", load)  # already in flight: no second load
    assert cache.loading == 1
    release.set()
    assert await asyncio.gather(*waiters) == ["42"] * 10
    assert calls == 1 and cache.loading == 0 and cache.get("k") == "42"


def test_closing_at_shutdown_leaves_nothing_behind_for_the_next_event_loop(
    clock: FakeClock,
) -> None:
    """An app's loads live on its one event loop, from start-up to `aclose` at shutdown; an
    app served again on a new loop starts its own loads (no loop checks per call)."""
    cache = cache_of(clock, refresh_window=0.01)
    rows = _Rows({"a": "A"})
    rows.gate = asyncio.Event()

    @on_fake_time
    async def first_life(clock: FakeClock) -> None:
        cache.refresh("k", lambda: rows.load_one("a"))  # a reload in flight at shutdown
        cache.refresh_batched("b", rows.load_many)  # queued: dropped at shutdown
        await turns()
        closing = asyncio.ensure_future(cache.aclose())
        await turns()
        assert not closing.done()  # waits for the reload under way
        assert rows.gate is not None
        rows.gate.set()
        await closing
        assert cache.loading == 0

    first_life(clock=clock)
    rows.gate = None

    @on_fake_time
    async def second_life(clock: FakeClock) -> None:
        assert await asyncio.wait_for(cache.load("k", lambda: rows.load_one("a")), 1.0) == "A"
        assert await asyncio.wait_for(cache.load_batched("b", rows.load_many), 1.0) is None

    second_life(clock=clock)
    assert rows.batches == [["a"], ["a"], ["b"]]  # the queued "b" was dropped, not loaded


@on_fake_time
async def test_a_background_refresh_returns_at_once_and_a_failed_one_is_forgotten(
    clock: FakeClock,
) -> None:
    cache = cache_of(clock)
    cache.put("k", "old")
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise RuntimeError("database away")

    cache.refresh("k", failing)
    assert cache.loading == 1
    release.set()
    await turns()
    assert cache.loading == 0 and cache.get("k") == "old"

    async def ok() -> str:
        return "7"

    assert await cache.load("k", ok) == "7"


class _Rows:
    """A stand-in table for batched loads: counts the loads and can hold or fail them."""

    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = rows
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.bad: set[str] = set()  # a batch holding any of these fails

    async def load_many(self, keys: Sequence[str]) -> Mapping[str, str]:
        self.batches.append(list(keys))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("database away")
        if self.bad & set(keys):
            raise ValueError("a row that cannot be read")
        return {k: self.rows[k] for k in keys if k in self.rows}

    async def load_one(self, key: str) -> str | None:
        return (await self.load_many([key])).get(key)


def refreshing(clock: FakeClock, window: float = 0.01) -> LoadingCache[str, str]:
    return cache_of(clock, refresh_window=window, max_batch=3)


@on_fake_time
async def test_due_entries_are_reloaded_together_in_one_batch(clock: FakeClock) -> None:
    cache = refreshing(clock, window=0.05)
    for key in "abcd":
        cache.put(key, "old")
    rows = _Rows({"a": "new a", "b": "new b"})  # c and d are gone from the table
    for key in ["a", "b", "c", "a", "b"]:  # repeats while queued are not queued again
        cache.refresh_batched(key, rows.load_many)
    await elapse(clock, 0.04)
    assert cache.loading == 3 and rows.batches == []  # nothing loads before the window ends
    await elapse(clock, 0.01)
    assert rows.batches == [["a", "b", "c"]]
    assert [cache.get(k) for k in "abcd"] == ["new a", "new b", None, "old"]
    assert cache.loading == 0


@on_fake_time
async def test_a_batch_is_at_most_max_batch_keys_and_a_key_loading_is_not_queued_again(
    clock: FakeClock,
) -> None:
    cache = refreshing(clock)
    rows = _Rows({k: k.upper() for k in "abcde"})
    rows.gate = asyncio.Event()
    for key in "abcde":
        cache.refresh_batched(key, rows.load_many)
    await elapse(clock, 0.01)
    assert rows.batches == [["a", "b", "c"], ["d", "e"]]  # max_batch=3
    cache.refresh_batched("a", rows.load_many)  # still loading: not queued for another batch
    rows.gate.set()
    await elapse(clock, 0.01)
    assert len(rows.batches) == 2
    assert [cache.get(k) for k in "abcde"] == ["A", "B", "C", "D", "E"]
    cache.refresh_batched("a", rows.load_many)  # done loading: it can be refreshed again
    await elapse(clock, 0.01)
    assert rows.batches[-1] == ["a"]


@on_fake_time
async def test_a_batch_that_read_before_an_invalidation_stores_nothing(clock: FakeClock) -> None:
    cache = refreshing(clock)
    cache.put("lic", "active")
    rows = _Rows({"lic": "active (read before the revoke)"})
    rows.gate = asyncio.Event()
    cache.refresh_batched("lic", rows.load_many)
    await elapse(clock, 0.01)  # the batch has read the row ...
    assert rows.batches == [["lic"]]
    cache.discard("lic")  # ... the license is revoked meanwhile ...
    rows.gate.set()  # ... and the batch finishes
    await turns()
    assert cache.get("lic") is None


@on_fake_time
async def test_a_failed_batch_keeps_the_entries_and_lets_them_be_queued_again(
    clock: FakeClock,
) -> None:
    cache = refreshing(clock)
    cache.put("a", "old")
    rows = _Rows({"a": "new"})
    rows.fail = True
    cache.refresh_batched("a", rows.load_many)
    await elapse(clock, 0.01)
    assert cache.get("a") == "old" and cache.loading == 0
    rows.fail = False
    cache.refresh_batched("a", rows.load_many)
    await elapse(clock, 0.01)
    assert cache.get("a") == "new" and len(rows.batches) == 2


@on_fake_time
async def test_closing_drops_the_queue_and_waits_for_batches_under_way(clock: FakeClock) -> None:
    cache = refreshing(clock, window=0.01)
    rows = _Rows({"a": "A", "b": "B"})
    rows.gate = asyncio.Event()
    cache.refresh_batched("a", rows.load_many)
    await elapse(clock, 0.01)  # a is loading
    cache.refresh_batched("b", rows.load_many)  # b is only queued
    closing = asyncio.ensure_future(cache.aclose())
    await turns()
    assert not closing.done()  # waits for a's batch
    rows.gate.set()
    await closing
    await elapse(clock, 0.05)
    assert rows.batches == [["a"]] and cache.get("a") == "A" and cache.get("b") is None


@on_fake_time
async def test_loads_asked_for_in_one_turn_of_the_loop_are_fetched_together(
    clock: FakeClock,
) -> None:
    rows = _Rows({"a": "A", "b": "B", "c": "C"})
    cache = cache_of(clock, max_batch=3)

    async def ask(key: str) -> str | None:
        return await cache.load_batched(key, rows.load_many)

    # Requests that arrive together; "a" twice, "x" has no row; max_batch=3 splits them.
    got = await asyncio.gather(*(ask(k) for k in ["a", "b", "a", "x", "c"]))
    assert got == ["A", "B", "A", None, "C"]
    assert rows.batches == [["a", "b", "x"], ["c"]]
    assert await ask("b") == "B"  # a later turn: a batch of its own
    assert rows.batches[-1] == ["b"]


@on_fake_time
async def test_a_key_asked_for_after_an_invalidation_while_its_batch_loads_starts_another(
    clock: FakeClock,
) -> None:
    rows = _Rows({"a": "old"})
    rows.gate = asyncio.Event()
    cache = cache_of(clock)
    first = asyncio.ensure_future(cache.load_batched("a", rows.load_many))
    await turns()  # the batch has started (and waits at the gate)
    rows.rows["a"] = "new"
    cache.discard("a")
    second = asyncio.ensure_future(cache.load_batched("a", rows.load_many))  # never joins
    await turns()
    rows.gate.set()
    assert await first == "new" and await second == "new"  # the stand-in reads at the end
    assert rows.batches == [["a"], ["a"]]


@on_fake_time
async def test_a_failed_batch_fails_each_of_its_loads(clock: FakeClock) -> None:
    rows = _Rows({"a": "A"})
    rows.fail = True
    cache = cache_of(clock)
    loads = [cache.load_batched(k, rows.load_many) for k in "ab"]
    results = await asyncio.gather(*loads, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    rows.fail = False
    assert await cache.load_batched("a", rows.load_many) == "A"


@on_fake_time
async def test_a_failed_batch_is_retried_key_by_key_so_one_bad_row_fails_alone(
    clock: FakeClock,
) -> None:
    rows = _Rows({"a": "A", "b": "B", "bad": "?"})
    rows.bad = {"bad"}
    cache = cache_of(clock)
    got = await asyncio.gather(
        *(cache.load_batched(k, rows.load_many) for k in ["a", "bad", "b"]),
        return_exceptions=True,
    )
    assert got[0] == "A" and got[2] == "B" and isinstance(got[1], ValueError)
    assert rows.batches == [["a", "bad", "b"], ["a"], ["bad"], ["b"]]

    cache = refreshing(clock)
    for key in ["a", "bad", "b"]:
        cache.put(key, "old")
    rows.batches.clear()
    for key in ["a", "bad", "b"]:
        cache.refresh_batched(key, rows.load_many)
    await elapse(clock, 0.01)
    assert [cache.get(k) for k in ["a", "bad", "b"]] == ["A", "old", "B"]
    assert cache.loading == 0 and len(rows.batches) == 4


@on_fake_time
async def test_batches_never_mix_groups(clock: FakeClock) -> None:
    """The validation cache groups by tenant: one tenant's keys never share a load."""
    rows = _Rows({"t1:a": "1a", "t1:b": "1b", "t2:a": "2a"})
    cache = cache_of(clock, group=lambda key: key.split(":")[0])
    got = await asyncio.gather(
        *(cache.load_batched(k, rows.load_many) for k in ["t1:a", "t2:a", "t1:b"])
    )
    assert got == ["1a", "2a", "1b"]
    assert sorted(rows.batches) == [["t1:a", "t1:b"], ["t2:a"]]


@on_fake_time
async def test_a_closed_cache_queues_no_refresh(clock: FakeClock) -> None:
    cache = refreshing(clock)
    rows = _Rows({"a": "A"})
    await cache.aclose()
    cache.refresh_batched("a", rows.load_many)
    cache.refresh("a", lambda: rows.load_one("a"))
    await elapse(clock, 0.05)
    assert rows.batches == [] and cache.loading == 0
