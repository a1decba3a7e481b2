"""The TTL map behind the validation and key-material caches."""

from __future__ import annotations

import pytest

from quantumlock.core import ttlcache
from quantumlock.core.ttlcache import TtlCache


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(ttlcache.time, "monotonic", lambda: now[0])
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
