"""One loading cache for every hot path: API keys, license rows, opened symmetric keys.

A bounded, per-process map whose entries expire after a fixed TTL. Reads take no lock (a
dict lookup is atomic under the GIL); writes do. When the map is full, expired entries are
dropped, and if that frees nothing the map starts over: rarer and cheaper than LRU
bookkeeping on every hit. A TTL of 0 disables storing (loads still share and batch).
`max_absent` > 0 also remembers keys known not to exist (unknown API keys), in a FIFO of
that size; they are never refreshed.

Refresh-ahead: an entry becomes *due* for refresh at a random point between half and
three quarters of its TTL. `lookup` still serves it, and tells the caller to reload it in
the background. Under steady traffic an entry is replaced before it expires, so no request
waits for the database; and the random point spreads the reloads of entries that were
loaded together (the validation cache's 2 s TTL had every hot license expire in the same
instant: a burst of reloads every 2 s that held requests for 100-300 ms). An entry is
never served after its TTL, so the TTL still bounds how stale a read can be.

Single flight: concurrent loads of one key share one fetch (`load`, or `refresh` in the
background), but only within one `generation`.

Invalidation races: a load that began before an invalidation may finish after it, with
the old row. `generation` counts invalidations; a result is stored with the generation its
load began under and dropped if any invalidation happened since, and a request that misses
after an invalidation starts a load of its own rather than joining one that began before it.

Batched misses (`load_batched`): the misses of requests that arrive together (a restart, a
burst of licenses validated for the first time, or QL_VALIDATION_CACHE_TTL=0) are fetched
together, one `load_many` per `group` (the validation cache groups by account and mode) for
all the keys asked for in one turn of the event loop.

Batched refresh (`refresh_batched`): a cache with many hot entries (one per license in use)
gathers the entries that fall due over `refresh_window` seconds and reloads them together,
one worker-thread hop and one query per group, instead of one of each per entry. Per-entry
reloads of 100 licenses on a 2 s TTL were ~80 thread hops a second, each contending with
the event loop for the GIL: 6% of a core, against 2% batched.

Either kind of batch that fails is retried key by key, so a bad row fails only itself.

Lifetime: the loads in flight belong to the event loop that serves the app, from its
start-up to `aclose` at its shutdown (what is still gathering is dropped, what is loading
is waited for). A cache is never shared between event loops; tests serve an app on one
loop for its whole life, as a server does. `clock` (time.monotonic) is injectable.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from functools import partial
from typing import Final, Generic, TypeVar

import structlog

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")

log = structlog.get_logger("quantumlock.cache")

Clock = Callable[[], float]
LoadMany = Callable[[Sequence[K]], Awaitable[Mapping[K, V]]]


class Miss(Enum):
    MISS = "miss"


# `lookup` has nothing to say about the key (neither a value nor known absence).
MISS: Final = Miss.MISS
_MISSED: Final = (MISS, False)
_ABSENT: Final = (None, False)

# An entry is due for refresh this far into its TTL (a uniform draw per entry).
REFRESH_FROM, REFRESH_TO = 0.5, 0.75


def refresh_point(now: float, ttl: float) -> float:
    # Spreading reloads needs no secrecy: the module PRNG is the right tool here.
    return now + ttl * random.uniform(REFRESH_FROM, REFRESH_TO)  # noqa: S311


def _same_group(_key: Hashable) -> Hashable:
    return None


class LoadingCache(Generic[K, V]):
    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 100_000,
        max_absent: int = 0,
        group: Callable[[K], Hashable] = _same_group,
        refresh_window: float = 0.0,
        max_batch: int = 500,
        clock: Clock = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._max_absent = max_absent
        self._clock = clock
        # key -> (expires at, due for refresh at, value)
        self._entries: dict[K, tuple[float, float, V]] = {}
        self._absent: OrderedDict[K, float] = OrderedDict()  # key -> expires at
        self._lock = threading.Lock()
        self.generation = 0
        self._flights: dict[tuple[K, int], asyncio.Future[V | None]] = {}
        self._misses: _Batches[K, V] = _Batches(0.0, group, max_batch)
        self._refreshes: _Batches[K, tuple[V | None, int]] = _Batches(
            refresh_window, group, max_batch
        )
        self._refreshing: dict[K, asyncio.Future[tuple[V | None, int] | None]] = {}
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    # -- reading -------------------------------------------------------------------------

    def lookup(self, key: K) -> tuple[V | Miss | None, bool]:
        """(value, due for a background refresh); (None, False) for a key known absent;
        (MISS, False) when the cache has nothing (or only something expired)."""
        entry = self._entries.get(key)
        if entry is not None:
            now = self._clock()
            if entry[0] > now:
                return entry[2], entry[1] <= now
        elif self._absent:
            until = self._absent.get(key)
            if until is not None and until > self._clock():
                return _ABSENT
        return _MISSED

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[2]

    # -- writing -------------------------------------------------------------------------

    def put(self, key: K, value: V | None, *, generation: int | None = None) -> None:
        """Store `value` (None: the key does not exist); with `generation`, only if nothing
        was invalidated since then. A key found absent is remembered only with `max_absent`,
        and never goes on serving an older value."""
        if self._ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            now = self._clock()
            if value is None:
                self._entries.pop(key, None)
                if self._max_absent:
                    self._absent[key] = now + self._ttl
                    while len(self._absent) > self._max_absent:
                        self._absent.popitem(last=False)
                return
            if self._absent:
                self._absent.pop(key, None)
            if len(self._entries) >= self._max:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (now + self._ttl, refresh_point(now, self._ttl), value)

    def discard(self, *keys: K) -> None:
        with self._lock:
            self.generation += 1
            for key in keys:
                self._entries.pop(key, None)
                self._absent.pop(key, None)

    def discard_where(self, matches: Callable[[K, V], bool]) -> None:
        """Drop every stored value `matches` (key, value) (known-absent keys stay)."""
        with self._lock:
            self.generation += 1
            for key in [k for k, e in self._entries.items() if matches(k, e[2])]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._absent.clear()

    # -- loading -------------------------------------------------------------------------

    async def load(self, key: K, fetch: Callable[[], Awaitable[V | None]]) -> V | None:
        """A miss: wait for the key's load, shared with every concurrent caller of the same
        generation, and store its result (None: no such key)."""
        # shield: one caller going away must not cancel the load the others wait for.
        return await asyncio.shield(self._flight(key, fetch))

    def refresh(self, key: K, fetch: Callable[[], Awaitable[V | None]]) -> None:
        """An entry due for refresh: reload it in the background (once); keep serving it.
        A failed refresh is logged and leaves the entry until its TTL."""
        if not self._closed:
            self._flight(key, fetch)

    async def load_batched(self, key: K, load_many: LoadMany[K, V]) -> V | None:
        """`load`, where the fetch is one `load_many` call (per group) for every key missed
        in this turn of the event loop; `load_many` returns the values it found."""
        return await self.load(key, lambda: self._misses.get(key, load_many))

    def refresh_batched(self, key: K, load_many: LoadMany[K, V]) -> None:
        """`refresh`, gathered with the other keys that fall due within `refresh_window`
        into one `load_many` per group; a key it does not return no longer exists."""
        if self._closed or key in self._refreshing:
            return  # queued or being reloaded already
        future = self._refreshes.get(key, partial(self._load_noting_generation, load_many))
        self._refreshing[key] = future
        future.add_done_callback(partial(self._refreshed, key))

    def _flight(self, key: K, fetch: Callable[[], Awaitable[V | None]]) -> asyncio.Future[V | None]:
        generation = self.generation
        flight = (key, generation)
        pending = self._flights.get(flight)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_and_store(key, fetch, generation))
            self._flights[flight] = pending
            pending.add_done_callback(partial(self._landed, flight))
        return pending

    async def _fetch_and_store(
        self, key: K, fetch: Callable[[], Awaitable[V | None]], generation: int
    ) -> V | None:
        value = await fetch()
        self.put(key, value, generation=generation)
        return value

    def _landed(self, flight: tuple[K, int], future: asyncio.Future[V | None]) -> None:
        if self._flights.get(flight) is future:
            del self._flights[flight]
        # Retrieved here, so a load whose every waiter went away is not reported as
        # "exception never retrieved"; waiters still get it through shield.
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.warning("cache_load_failed", error=type(exc).__name__)

    async def _load_noting_generation(
        self, load_many: LoadMany[K, V], keys: Sequence[K]
    ) -> dict[K, tuple[V | None, int]]:
        generation = self.generation
        found = await load_many(keys)
        return {k: (found.get(k), generation) for k in keys}

    def _refreshed(self, key: K, done: asyncio.Future[tuple[V | None, int] | None]) -> None:
        if self._refreshing.get(key) is done:
            del self._refreshing[key]
        if done.cancelled():
            return
        if (exc := done.exception()) is not None:
            log.warning("cache_refresh_failed", error=type(exc).__name__)
            return
        loaded = done.result()
        if loaded is not None:
            self.put(key, loaded[0], generation=loaded[1])

    @property
    def loading(self) -> int:
        """Loads in flight plus entries queued or being reloaded in the background."""
        return len(self._flights) + len(self._refreshing)

    async def aclose(self) -> None:
        """At the app's shutdown: queue no more background reloads, drop what is queued,
        and wait for the loads under way (bounded by the caller)."""
        self._closed = True
        await self._refreshes.aclose()
        await self._misses.aclose()
        flights = list(self._flights.values())
        if flights:
            await asyncio.gather(*flights, return_exceptions=True)
        self._flights.clear()
        self._refreshing.clear()


def _batches(keys: Iterable[K], group: Callable[[K], Hashable], size: int) -> Iterator[list[K]]:
    """`keys` split by `group` (a tenant's keys never share a query with another's), then
    into lists of at most `size`."""
    groups: dict[Hashable, list[K]] = {}
    for key in keys:
        groups.setdefault(group(key), []).append(key)
    for members in groups.values():
        for start in range(0, len(members), size):
            yield members[start : start + size]


class _Batches(Generic[K, R]):
    """Loads asked for together, fetched together.

    `get(key, load_many)` returns a future for `key`'s value (None: not found). The keys
    asked for before the loop comes round again (or within `window` seconds of the first)
    go to `load_many` in batches (one per group, at most `max_batch` keys each). A key asked
    for again while its batch is still gathering shares that future; once the batch has
    started, a new one is gathered (a load never joins one that began earlier, so the
    generation rules stay intact). A failed batch is retried key by key.
    """

    def __init__(self, window: float, group: Callable[[K], Hashable], max_batch: int) -> None:
        self._window = window
        self._group = group
        self._max_batch = max_batch
        self._gathering: dict[K, asyncio.Future[R | None]] = {}
        self._load_many: LoadMany[K, R] | None = None
        self._flush_at: asyncio.Handle | None = None
        self._loading: set[asyncio.Task[None]] = set()

    def get(self, key: K, load_many: LoadMany[K, R]) -> asyncio.Future[R | None]:
        future = self._gathering.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
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
            self._loading.add(task)
            task.add_done_callback(self._loading.discard)

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
        """Cancel what is still gathering, and wait for the batches already loading."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        gathering, self._gathering = self._gathering, {}
        self._load_many = None
        for future in gathering.values():
            future.cancel()
        if self._loading:
            await asyncio.gather(*self._loading, return_exceptions=True)
