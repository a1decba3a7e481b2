"""A fake monotonic clock that drives a cache's TTLs and the event loop's timers alike.

`FakeClock` goes into a cache as its `clock`; `on_fake_time` runs an async test on an event
loop whose `time()` is the same clock, so `loop.call_later` (the caches' batch windows)
fires when the test advances the clock, never after a real sleep. Only `asyncio.sleep(0)`
is awaited for real: `elapse` advances the clock and lets the loop take a few turns.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _FakeTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._fake_clock = clock

    def time(self) -> float:
        return self._fake_clock.now


def on_fake_time(
    test: Callable[..., Coroutine[Any, Any, T]],
) -> Callable[..., T]:
    """Run `async def test(clock, ...)` on one event loop timed by its `clock` fixture."""

    @functools.wraps(test)
    def run(**fixtures: Any) -> T:
        clock: FakeClock = fixtures["clock"]
        with asyncio.Runner(loop_factory=lambda: _FakeTimeLoop(clock)) as runner:
            return runner.run(test(**fixtures))

    return run


async def turns(n: int = 20) -> None:
    """Let the loop run what is ready (and what that makes ready) without time passing."""
    for _ in range(n):
        await asyncio.sleep(0)


async def elapse(clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    await turns()
