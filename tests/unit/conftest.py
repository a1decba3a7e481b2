from __future__ import annotations

import pytest

from tests.fakes.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The caches' time (and, with `on_fake_time`, the event loop's)."""
    return FakeClock()
