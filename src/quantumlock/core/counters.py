"""Counters kept in memory on a hot path and written in batches.

`add` is a dict update under a lock (no I/O); a background task `drain`s the counts and adds
them to a table with one upsert per row, so a request never waits on a write. A crash loses
at most one flush interval of counts: these feed charts and histories, never a limit.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Counters(Generic[K]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[K, list[int]] = {}
        self._last: dict[K, datetime] = {}

    def add(self, key: K, *amounts: int, at: datetime | None = None) -> None:
        """Add `amounts` (one or more columns) to `key`'s counts; `at`: keep the latest."""
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:
                self._counts[key] = list(amounts)
            else:
                for i, amount in enumerate(amounts):
                    counts[i] += amount
            if at is not None:
                previous = self._last.get(key)
                if previous is None or at > previous:
                    self._last[key] = at

    def drain(self) -> tuple[dict[K, list[int]], dict[K, datetime]]:
        """Everything counted since the last drain, and the counters start again at zero."""
        with self._lock:
            counts, last = self._counts, self._last
            self._counts, self._last = {}, {}
        return counts, last

    def restore(self, counts: dict[K, list[int]], last: dict[K, datetime]) -> None:
        """Put back a drain whose write failed, so the next flush retries it."""
        for key, amounts in counts.items():
            self.add(key, *amounts, at=last.get(key))

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)
