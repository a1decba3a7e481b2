"""The TTL map behind the validation and key-material caches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import pytest

from quantumlock.core.ttlcache import BatchedLoads, BatchedRefresh, SingleFlight, TtlCache


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # SingleFlight is built on asyncio futures


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_entries_expire_after_the_ttl(clock: list[float]) -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=2.0, max_entries=10)
    cache.put("a", 1)
    clock[0] += 1.9
    assert cache.get("a") == 1
    clock[0] += 0.2
    assert cache.get("a") is None


def test_a_zero_ttl_disables_it(clock: list[float]) -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=0, max_entries=10)
    cache.put("a", 1)
    assert not cache.enabled and cache.get("a") is None


def test_a_full_cache_drops_expired_entries_first_then_starts_over(clock: list[float]) -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=1.0, max_entries=3)
    cache.put(1, 1)
    clock[0] += 0.5
    cache.put(2, 2)
    cache.put(3, 3)
    clock[0] += 0.6  # 1 has expired, 2 and 3 have not
    cache.put(4, 4)
    assert [cache.get(k) for k in (1, 2, 3, 4)] == [None, 2, 3, 4]
    cache.put(5, 5)  # full of live entries: starts over
    assert [cache.get(k) for k in (2, 3, 4, 5)] == [None, None, None, 5]


def test_discard_and_discard_where(clock: list[float]) -> None:
    cache: TtlCache[tuple[str, str], int] = TtlCache(ttl=5.0, max_entries=10)
    for i, key in enumerate([("a", "x"), ("a", "y"), ("b", "x")]):
        cache.put(key, i)
    cache.discard(("a", "x"), ("zz", "missing"))
    assert cache.get(("a", "x")) is None and cache.get(("a", "y")) == 1
    cache.discard_where(lambda key: key[1] == "x")
    assert cache.get(("b", "x")) is None and cache.get(("a", "y")) == 1


def test_an_entry_is_due_for_refresh_between_half_and_three_quarters_of_its_ttl(
    clock: list[float],
) -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=2.0, max_entries=10)
    cache.put("a", 1)
    assert cache.lookup("a") == (1, False)
    clock[0] += 0.99  # before half the TTL: never due
    assert cache.lookup("a") == (1, False)
    clock[0] += 0.51  # past three quarters: always due, still served
    assert cache.lookup("a") == (1, True)
    clock[0] += 0.6  # past the TTL: gone, whatever was due
    assert cache.lookup("a") == (None, False)


def test_refresh_points_are_spread_so_entries_loaded_together_are_not_reloaded_together(
    clock: list[float],
) -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=2.0, max_entries=1000)
    for i in range(200):
        cache.put(i, i)
    due_at = []
    for step in range(1, 101):  # walk from 0.5 to 0.75 of the TTL in 100 steps
        clock[0] = 1000.0 + 1.0 + step * 0.005
        due_at.append(sum(cache.lookup(i)[1] for i in range(200)))
    # Not one instant: the count of due entries climbs over the window.
    assert due_at[0] < 20 and due_at[-1] == 200
    assert len(set(due_at)) > 20


def test_a_put_from_a_load_that_began_before_an_invalidation_is_dropped(
    clock: list[float],
) -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=5.0, max_entries=10)
    started = cache.generation  # a load reads the row ...
    cache.discard("lic")  # ... the license is revoked meanwhile ...
    cache.put("lic", "active (stale)", generation=started)  # ... and the load finishes
    assert cache.get("lic") is None
    cache.put("lic", "revoked", generation=cache.generation)
    assert cache.get("lic") == "revoked"
    started = cache.generation
    cache.discard_where(lambda key: False)
    cache.put("lic", "stale again", generation=started)
    assert cache.get("lic") == "revoked"


@pytest.mark.anyio
async def test_single_flight_shares_one_load_between_concurrent_callers() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.ensure_future(flight.load("k", load)) for _ in range(10)]
    await asyncio.sleep(0)
    flight.refresh("k", load)  # already in flight: no second load
    assert len(flight) == 1
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 10
    assert calls == 1 and len(flight) == 0


def test_a_load_left_on_a_stopped_event_loop_is_not_joined_by_the_next_one() -> None:
    """An app served again on a new loop starts its own load instead of awaiting one that
    can never finish (or failing on a future of another loop)."""
    flight: SingleFlight[str, str] = SingleFlight()
    never = asyncio.Event()

    async def stuck() -> str:
        await never.wait()
        return "old"

    async def leave_a_load_behind() -> None:
        flight.refresh("k", stuck)
        await asyncio.sleep(0)
        asyncio.get_running_loop().stop()

    stopped = asyncio.new_event_loop()
    left = stopped.create_task(leave_a_load_behind())
    stopped.run_forever()
    assert left.done() and len(flight) == 1  # the stopped loop's load is still registered

    async def fresh() -> str:
        return "new"

    async def serve_again() -> str:
        return await asyncio.wait_for(flight.load("k", fresh), timeout=1.0)

    assert asyncio.run(serve_again()) == "new"
    for task in asyncio.all_tasks(stopped):
        task.cancel()
    stopped.run_until_complete(asyncio.sleep(0))
    stopped.close()


@pytest.mark.anyio
async def test_a_background_refresh_returns_at_once_and_a_failed_one_is_forgotten() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("database away")

    flight.refresh("k", failing)
    assert len(flight) == 1
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(flight) == 0

    async def ok() -> int:
        return 7

    assert await flight.load("k", ok) == 7


class _Rows:
    """A stand-in table for batched refreshes: counts the loads and can hold or fail them."""

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


def _refreshing(cache: TtlCache[str, str], window: float = 0.01) -> BatchedRefresh[str, str]:
    def store(key: str, value: str | None, generation: int) -> None:
        if value is None:
            cache.forget(key, generation=generation)
        else:
            cache.put(key, value, generation=generation)

    return BatchedRefresh(window, lambda: cache.generation, store, max_batch=3)


@pytest.mark.anyio
async def test_due_entries_are_reloaded_together_in_one_batch() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    for key in "abcd":
        cache.put(key, "old")
    rows = _Rows({"a": "new a", "b": "new b"})  # c and d are gone from the table
    refresh = _refreshing(cache, window=0.05)
    for key in ["a", "b", "c", "a", "b"]:  # repeats while queued are not queued again
        refresh.add(key, rows.load_many)
    assert len(refresh) == 3 and rows.batches == []  # nothing loads before the window ends
    await asyncio.sleep(0.1)
    assert rows.batches == [["a", "b", "c"]]
    assert [cache.get(k) for k in "abcd"] == ["new a", "new b", None, "old"]
    assert len(refresh) == 0


@pytest.mark.anyio
async def test_a_batch_is_at_most_max_batch_keys_and_a_key_loading_is_not_queued_again() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    rows = _Rows({k: k.upper() for k in "abcde"})
    rows.gate = asyncio.Event()
    refresh = _refreshing(cache)
    for key in "abcde":
        refresh.add(key, rows.load_many)
    await asyncio.sleep(0.05)
    assert rows.batches == [["a", "b", "c"], ["d", "e"]]  # max_batch=3
    refresh.add("a", rows.load_many)  # still loading: not queued for another batch
    rows.gate.set()
    await asyncio.sleep(0.05)
    assert len(rows.batches) == 2
    assert [cache.get(k) for k in "abcde"] == ["A", "B", "C", "D", "E"]
    refresh.add("a", rows.load_many)  # done loading: it can be refreshed again
    await asyncio.sleep(0.05)
    assert rows.batches[-1] == ["a"]


@pytest.mark.anyio
async def test_a_batch_that_read_before_an_invalidation_stores_nothing() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    cache.put("lic", "active")
    rows = _Rows({"lic": "active (read before the revoke)"})
    rows.gate = asyncio.Event()
    refresh = _refreshing(cache)
    refresh.add("lic", rows.load_many)
    await asyncio.sleep(0.05)  # the batch has read the row ...
    cache.discard("lic")  # ... the license is revoked meanwhile ...
    rows.gate.set()  # ... and the batch finishes
    await asyncio.sleep(0.01)
    assert cache.get("lic") is None


@pytest.mark.anyio
async def test_a_failed_batch_keeps_the_entries_and_lets_them_be_queued_again() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    cache.put("a", "old")
    rows = _Rows({"a": "new"})
    rows.fail = True
    refresh = _refreshing(cache)
    refresh.add("a", rows.load_many)
    await asyncio.sleep(0.05)
    assert cache.get("a") == "old" and len(refresh) == 0
    rows.fail = False
    refresh.add("a", rows.load_many)
    await asyncio.sleep(0.05)
    assert cache.get("a") == "new" and len(rows.batches) == 2


@pytest.mark.anyio
async def test_closing_drops_the_queue_and_waits_for_batches_under_way() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    rows = _Rows({"a": "A", "b": "B"})
    rows.gate = asyncio.Event()
    refresh = _refreshing(cache, window=0.01)
    refresh.add("a", rows.load_many)
    await asyncio.sleep(0.05)  # a is loading
    refresh.add("b", rows.load_many)  # b is only queued
    closing = asyncio.ensure_future(refresh.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()  # waits for a's batch
    rows.gate.set()
    await closing
    await asyncio.sleep(0.05)
    assert rows.batches == [["a"]] and cache.get("a") == "A" and cache.get("b") is None


@pytest.mark.anyio
async def test_loads_asked_for_in_one_turn_of_the_loop_are_fetched_together() -> None:
    rows = _Rows({"a": "A", "b": "B", "c": "C"})
    loads: BatchedLoads[str, str] = BatchedLoads(max_batch=3)

    async def ask(key: str) -> str | None:
        return await loads.get(key, rows.load_many)

    # Requests that arrive together; "a" twice, "x" has no row; max_batch=3 splits them.
    got = await asyncio.gather(*(ask(k) for k in ["a", "b", "a", "x", "c"]))
    assert got == ["A", "B", "A", None, "C"]
    assert rows.batches == [["a", "b", "x"], ["c"]]
    assert await ask("b") == "B"  # a later turn: a batch of its own
    assert rows.batches[-1] == ["b"]


@pytest.mark.anyio
async def test_a_key_asked_for_while_its_batch_is_loading_starts_another() -> None:
    rows = _Rows({"a": "old"})
    rows.gate = asyncio.Event()
    loads: BatchedLoads[str, str] = BatchedLoads()
    first = loads.get("a", rows.load_many)
    await asyncio.sleep(0.01)  # the batch has started (and waits at the gate)
    rows.rows["a"] = "new"
    second = loads.get("a", rows.load_many)  # e.g. after an invalidation: never joins
    assert second is not first
    rows.gate.set()
    assert await first == "new" and await second == "new"  # the stand-in reads at the end
    assert rows.batches == [["a"], ["a"]]


@pytest.mark.anyio
async def test_a_failed_batch_fails_each_of_its_loads() -> None:
    rows = _Rows({"a": "A"})
    rows.fail = True
    loads: BatchedLoads[str, str] = BatchedLoads()
    futures = [loads.get(k, rows.load_many) for k in "ab"]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    rows.fail = False
    assert await loads.get("a", rows.load_many) == "A"


def test_batches_left_on_a_stopped_event_loop_do_not_block_the_next_one() -> None:
    """An app served again on a new loop (tests, a restarted portal) still loads."""
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    rows = _Rows({"a": "A"})
    refresh = _refreshing(cache, window=0.01)
    loads: BatchedLoads[str, str] = BatchedLoads()

    async def leave_work_behind() -> None:
        refresh.add("a", rows.load_many)  # queued: its timer dies with this loop
        loads.get("a", rows.load_many)  # gathering: its flush dies with this loop
        asyncio.get_running_loop().stop()  # stops before the flush gets a turn

    stopped = asyncio.new_event_loop()
    left = stopped.create_task(leave_work_behind())
    stopped.run_forever()
    stopped.close()
    assert left.done()
    assert rows.batches == []

    async def serve_again() -> str | None:
        refresh.add("a", rows.load_many)
        got = await loads.get("a", rows.load_many)
        await asyncio.sleep(0.05)
        return got

    assert asyncio.run(serve_again()) == "A"
    assert rows.batches == [["a"], ["a"]] and cache.get("a") == "A"


@pytest.mark.anyio
async def test_a_failed_batch_is_retried_key_by_key_so_one_bad_row_fails_alone() -> None:
    rows = _Rows({"a": "A", "b": "B", "bad": "?"})
    rows.bad = {"bad"}
    loads: BatchedLoads[str, str] = BatchedLoads()
    got = await asyncio.gather(
        *(loads.get(k, rows.load_many) for k in ["a", "bad", "b"]), return_exceptions=True
    )
    assert got[0] == "A" and got[2] == "B" and isinstance(got[1], ValueError)
    assert rows.batches == [["a", "bad", "b"], ["a"], ["bad"], ["b"]]

    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    for key in ["a", "bad", "b"]:
        cache.put(key, "old")
    rows.batches.clear()
    refresh = _refreshing(cache)
    for key in ["a", "bad", "b"]:
        refresh.add(key, rows.load_many)
    await asyncio.sleep(0.05)
    assert [cache.get(k) for k in ["a", "bad", "b"]] == ["A", "old", "B"]
    assert len(refresh) == 0 and len(rows.batches) == 4


@pytest.mark.anyio
async def test_batches_never_mix_groups() -> None:
    """The validation cache groups by tenant: one tenant's keys never share a load."""
    rows = _Rows({"t1:a": "1a", "t1:b": "1b", "t2:a": "2a"})
    loads: BatchedLoads[str, str] = BatchedLoads(group=lambda key: key.split(":")[0])
    got = await asyncio.gather(*(loads.get(k, rows.load_many) for k in ["t1:a", "t2:a", "t1:b"]))
    assert got == ["1a", "2a", "1b"]
    assert sorted(rows.batches) == [["t1:a", "t1:b"], ["t2:a"]]


@pytest.mark.anyio
async def test_a_closed_refresher_queues_nothing() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60.0, max_entries=10)
    rows = _Rows({"a": "A"})
    refresh = _refreshing(cache)
    await refresh.aclose()
    refresh.add("a", rows.load_many)
    await asyncio.sleep(0.05)
    assert rows.batches == [] and len(refresh) == 0
