"""Cross-process change notification through the database.

Writers add a ChangeEvent row in the same transaction as the change; every server process
polls for rows newer than the last one it saw and tells its listeners. This is what makes a
revocation or limit change made by the CLI (or another node) reach a running server within
the poll interval. Redis pub/sub, where configured, only makes it faster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.clock import utcnow
from quantumlock.db.base import ChangeEvent

log = structlog.get_logger(__name__)

Listener = Callable[[str, str], None]
RETENTION = timedelta(days=1)


def record_change(session: Session, kind: str, ref: str) -> None:
    session.add(ChangeEvent(kind=kind, ref=ref, created_at=utcnow()))


class ChangeFeed:
    def __init__(self, session_factory: sessionmaker[Session], interval: float) -> None:
        self._sessions = session_factory
        self._interval = interval
        self._listeners: list[Listener] = []
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _latest_id(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.coalesce(func.max(ChangeEvent.id), 0))) or 0)

    def poll_once(self) -> int:
        """Deliver events newer than the last seen; returns how many."""
        with self._sessions() as session:
            rows = session.execute(
                select(ChangeEvent.id, ChangeEvent.kind, ChangeEvent.ref)
                .where(ChangeEvent.id > self._last_id)
                .order_by(ChangeEvent.id)
                .limit(1000)
            ).all()
        for event_id, kind, ref in rows:
            self._last_id = event_id
            for listener in self._listeners:
                listener(kind, ref)
        return len(rows)

    def prune(self) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                delete(ChangeEvent).where(ChangeEvent.created_at < utcnow() - RETENTION)
            )

    async def start(self) -> None:
        self._last_id = await asyncio.to_thread(self._latest_id)
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.poll_once)
                polls += 1
                if polls % 14400 == 0:  # about hourly at the default interval
                    await asyncio.to_thread(self.prune)
            except Exception:
                # A database hiccup must not kill the poller; caches still expire by TTL.
                log.warning("change_feed_poll_failed", exc_info=True)
