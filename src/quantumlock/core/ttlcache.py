"""A bounded, per-process map whose entries expire after a fixed TTL, refreshed ahead of time.

Reads take no lock (a dict lookup is atomic under the GIL); writes do. When the map is
full, expired entries are dropped, and if that frees nothing the map starts over: rarer
and cheaper than LRU bookkeeping on every hit. A TTL of 0 disables the cache.

Refresh-ahead: an entry becomes *due* for refresh at a random point between half and
three quarters of its TTL. `lookup` still serves it, and tells the caller to reload it in
the background. Under steady traffic an entry is replaced before it expires, so no request
waits for the database; and the random point spreads the reloads of entries that were
loaded together (the validation cache's 2 s TTL had every hot license expire in the same
instant: a burst of reloads every 2 s that held requests for 100-300 ms). An entry is
never served after its TTL, so the TTL still bounds how stale a read can be.

Invalidation races: a load that began before an invalidation may finish after it, with
the old row. `generation` counts invalidations; a `put` that carries the generation its
load began under is dropped if any invalidation happened since, and a request that misses
after an invalidation starts a load of its own rather than joining one that began before
it (`CacheLoads`).

Batched misses (`BatchedLoads`): the misses of requests that arrive together (a restart, a
burst of licenses validated for the first time, or QL_VALIDATION_CACHE_TTL=0) are fetched
together: one load per group (the validation cache groups by account and mode) for all the
keys asked for in one turn of the event loop.

Batched refresh (`BatchedRefresh`): a cache with many hot entries (the validation cache: one
per license in use) gathers the entries that fall due over a short window and reloads them
together, one worker-thread hop and one query per group, instead of one of each per entry.
Under load, per-entry reloads of 100 licenses on a 2 s TTL were ~80 thread hops a second,
each contending with the event loop for the GIL: 6% of a core, against 2% batched.

Either kind of batch that fails is retried key by key, so a bad row fails only itself.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import structlog

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")

log = structlog.get_logger("quantumlock.cache")

# An entry is due for refresh this far into its TTL (a uniform draw per entry).
REFRESH_FROM, REFRESH_TO = 0.5, 0.75


def refresh_point(now: float, ttl: float) -> float:
    # Spreading reloads needs no secrecy: the module PRNG is the right tool here.
    return now + ttl * random.uniform(REFRESH_FROM, REFRESH_TO)  # noqa: S311


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max = max_entries
        # key -> (expires at, due for refresh at, value)
        self._entries: dict[K, tuple[float, float, V]] = {}
        self._lock = threading.Lock()
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[2]

    def lookup(self, key: K) -> tuple[V | None, bool]:
        """(value, due for a background refresh); (None, False) when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None, False
        now = time.monotonic()
        if entry[0] <= now:
            return None, False
        return entry[2], entry[1] <= now

    def put(self, key: K, value: V, *, generation: int | None = None) -> None:
        """Store `value`; with `generation`, only if nothing was invalidated since then."""
        if not self.enabled:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            now = time.monotonic()
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (now + self._ttl, refresh_point(now, self._ttl), value)

    def forget(self, key: K, *, generation: int) -> None:
        """Drop `key` (a reload found it gone), unless an invalidation came in between."""
        with self._lock:
            if generation == self.generation:
                self._entries.pop(key, None)

    def discard(self, *keys: K) -> None:
        with self._lock:
            self.generation += 1
            for key in keys:
                self._entries.pop(key, None)

    def discard_where(self, matches: Callable[[K], bool]) -> None:
        with self._lock:
            self.generation += 1
            for key in [k for k in self._entries if matches(k)]:
                del self._entries[key]


class SingleFlight(Generic[K, R]):
    """At most one load per key at a time; everyone who asks meanwhile shares its result.

    `load` waits for the result (a cache miss); `refresh` starts one in the background and
    returns at once (an entry due for refresh, still served). A load that fails is logged
    (by exception type only) and forgotten; a failed refresh leaves its entry until its TTL.
    """

    def __init__(self) -> None:
        # One event loop's loads; a load left on a stopped loop is replaced, not joined.
        self._inflight: dict[K, asyncio.Future[R]] = {}

    def _start(self, key: K, factory: Callable[[], Awaitable[R]]) -> asyncio.Future[R]:
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is not asyncio.get_running_loop():
            pending = None  # left on a stopped event loop: it can never finish
        if pending is None:
            started = asyncio.ensure_future(factory())
            self._inflight[key] = started

            def done(future: asyncio.Future[R]) -> None:
                if self._inflight.get(key) is future:
                    del self._inflight[key]
                # Retrieved here, so a load whose every waiter went away is not reported
                # as "exception never retrieved"; waiters still get it through shield.
                _log_failure(future)

            started.add_done_callback(done)
            pending = started
        return pending

    async def load(self, key: K, factory: Callable[[], Awaitable[R]]) -> R:
        # shield: one caller going away must not cancel the load the others wait for.
        return await asyncio.shield(self._start(key, factory))

    def refresh(self, key: K, factory: Callable[[], Awaitable[R]]) -> None:
        self._start(key, factory)

    def __len__(self) -> int:
        return len(self._inflight)


class CacheLoads(Generic[K, R]):
    """The loads of a cache whose entries can be invalidated (the module docstring's races).

    Concurrent loads of one key share a single flight, but only within one `generation`:
    a request that misses after an invalidation starts its own load rather than joining
    one that read the old row. The result goes to `store` with the generation its load
    began under, so the cache can drop it if an invalidation came in between.
    """

    def __init__(self, generation: Callable[[], int], store: Callable[[K, R, int], None]):
        self._generation = generation
        self._store = store
        self._flights: SingleFlight[tuple[K, int], R] = SingleFlight()

    def _flight(
        self, key: K, fetch: Callable[[], Awaitable[R]]
    ) -> tuple[tuple[K, int], Callable[[], Awaitable[R]]]:
        generation = self._generation()

        async def fetch_and_store() -> R:
            result = await fetch()
            self._store(key, result, generation)
            return result

        return (key, generation), fetch_and_store

    async def load(self, key: K, fetch: Callable[[], Awaitable[R]]) -> R:
        """A miss: wait for the (shared) load."""
        return await self._flights.load(*self._flight(key, fetch))

    def refresh(self, key: K, fetch: Callable[[], Awaitable[R]]) -> None:
        """An entry due for refresh: reload it in the background (once); keep serving it."""
        self._flights.refresh(*self._flight(key, fetch))


LoadMany = Callable[[Sequence[K]], Awaitable[Mapping[K, R]]]


def _batches(keys: Iterable[K], group: Callable[[K], Hashable], size: int) -> Iterator[list[K]]:
    """`keys` split by `group` (a tenant's keys never share a query with another's), then
    into lists of at most `size`."""
    groups: dict[Hashable, list[K]] = {}
    for key in keys:
        groups.setdefault(group(key), []).append(key)
    for members in groups.values():
        for start in range(0, len(members), size):
            yield members[start : start + size]


def _same_group(_key: Hashable) -> Hashable:
    return None


class BatchedLoads(Generic[K, R]):
    """Loads asked for together, fetched together.

    `get(key, load_many)` returns a future for `key`'s row (None: no such row). The keys
    asked for before the loop comes round again (or within `window` seconds of the first)
    go to `load_many` in batches (one per `group`, at most `max_batch` keys each): under
    load, the misses of all the requests that arrived together cost a worker-thread hop and
    a query per group instead of one of each per request. A key asked for again while its
    batch is still gathering shares that future; once the batch has started, a new one is
    gathered (a load never joins one that began earlier: the caller's generation rules stay
    intact). A batch that fails is retried key by key, so only the keys that fail alone fail.
    """

    def __init__(
        self,
        *,
        window: float = 0.0,
        group: Callable[[K], Hashable] = _same_group,
        max_batch: int = 500,
    ) -> None:
        self._window = window
        self._group = group
        self._max_batch = max_batch
        self._gathering: dict[K, asyncio.Future[R | None]] = {}
        self._load_many: LoadMany[K, R] | None = None
        self._flush_at: asyncio.Handle | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, key: K, load_many: LoadMany[K, R]) -> asyncio.Future[R | None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (an app served again, as tests do): what a stopped loop was
            # gathering will never be flushed there, and its futures belong to it.
            self._loop, self._gathering, self._batches = loop, {}, set()
        future = self._gathering.get(key)
        if future is None:
            if not self._gathering:
                self._flush_at = (
                    loop.call_later(self._window, self._flush)
                    if self._window
                    else loop.call_soon(self._flush)
                )
            future = loop.create_future()
            self._gathering[key] = future
            self._load_many = load_many
        return future

    def _flush(self) -> None:
        self._flush_at = None
        gathered, self._gathering = self._gathering, {}
        load_many, self._load_many = self._load_many, None
        if load_many is None:
            return
        for keys in _batches(gathered, self._group, self._max_batch):
            batch = {key: gathered[key] for key in keys}
            task = asyncio.ensure_future(self._load(batch, load_many))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _load(
        self, batch: dict[K, asyncio.Future[R | None]], load_many: LoadMany[K, R]
    ) -> None:
        try:
            found = await load_many(list(batch))
        except Exception as exc:
            if len(batch) > 1:
                await asyncio.gather(*(self._load({k: f}, load_many) for k, f in batch.items()))
                return
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
                    # Marked retrieved: a waiter that went away must not leave an
                    # "exception was never retrieved" behind (the waiter logs the failure).
                    future.exception()
            return
        for key, future in batch.items():
            if not future.done():
                future.set_result(found.get(key))

    async def aclose(self) -> None:
        """Cancel what is still gathering, and wait for the batches already loading (of
        this event loop's; a stopped loop's can never finish)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        gathering, self._gathering = self._gathering, {}
        for future in gathering.values():
            future.cancel()
        if self._batches and self._loop is asyncio.get_running_loop():
            await asyncio.gather(*self._batches, return_exceptions=True)


class BatchedRefresh(Generic[K, R]):
    """Background refreshes gathered for `window` seconds, then loaded together
    (`BatchedLoads`, whose batching, per-group split and key-by-key retry they share).

    `add(key, load_many)` queues a due entry (once: a key queued or being reloaded is not
    queued again) and returns at once; `load_many` returns what it found by key, and a key
    it did not return no longer exists. Each result goes to `store` with the generation its
    load began under, so an invalidation during the load drops it (the module docstring's
    races). A key whose load fails is logged by exception type and its entry stays until
    its TTL (a miss then loads it as usual).
    """

    def __init__(
        self,
        window: float,
        generation: Callable[[], int],
        store: Callable[[K, R | None, int], None],
        *,
        group: Callable[[K], Hashable] = _same_group,
        max_batch: int = 500,
    ) -> None:
        self._generation = generation
        self._store = store
        # Each result carries the generation its load began under.
        self._loads: BatchedLoads[K, tuple[R | None, int]] = BatchedLoads(
            window=window, group=group, max_batch=max_batch
        )
        self._pending: dict[K, asyncio.Future[tuple[R | None, int] | None]] = {}
        self._closed = False

    def add(self, key: K, load_many: LoadMany[K, R]) -> None:
        if self._closed:
            return
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            return  # queued or loading (one left on a stopped loop never finishes)

        async def load_noting_generation(keys: Sequence[K]) -> dict[K, tuple[R | None, int]]:
            generation = self._generation()
            found = await load_many(keys)
            return {k: (found.get(k), generation) for k in keys}

        future = self._loads.get(key, load_noting_generation)
        self._pending[key] = future
        future.add_done_callback(lambda done: self._loaded(key, done))

    def _loaded(self, key: K, done: asyncio.Future[tuple[R | None, int] | None]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if done.cancelled():
            return
        if (exc := done.exception()) is not None:
            log.warning("cache_refresh_failed", error=type(exc).__name__)
            return
        loaded = done.result()
        if loaded is not None:
            self._store(key, *loaded)

    def __len__(self) -> int:
        """Entries queued or being reloaded."""
        return len(self._pending)

    async def aclose(self) -> None:
        """At shutdown: queue nothing more, drop what is queued, and wait for the batches
        already loading."""
        self._closed = True
        await self._loads.aclose()


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("cache_load_failed", error=type(future.exception()).__name__)
