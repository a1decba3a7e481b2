"""Cross-process change notification through the database.

Writers add a ChangeEvent row in the same transaction as the change (`record_change`); every
server process polls for rows newer than the last one it saw and tells the listeners of that
kind of change (each domain subscribes its own kinds when it installs). The process that
made the change hears it at once, from an after-commit hook (`ChangeFeed.install`): so a
change made by an endpoint, a service called directly or a CLI command is announced one way,
and a transaction that rolls back announces nothing. This is what makes a
revocation or limit change made by the CLI (or another node) reach a running server within
the poll interval. Redis pub/sub, where configured, only makes it faster: a writer whose
transaction recorded a change publishes a nudge after the commit, and every node that hears
it polls at once instead of at its next tick (`quantumlock.db.nudges`, imported only where
Redis is configured). The rows stay the truth, so a lost nudge (Redis down, a node
reconnecting) only delays a change to the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.clock import utcnow
from quantumlock.db.base import ChangeEvent
from quantumlock.db.unit_of_work import is_outermost_commit, peek_scratch, transaction_scratch

if TYPE_CHECKING:
    from quantumlock.db.nudges import ChangeNudges

log = structlog.get_logger(__name__)

Listener = Callable[[str], None]  # called with the change's ref
Change = tuple[str, str]  # kind, ref
RETENTION = timedelta(days=1)

_RECORDED = "quantumlock.changes"  # in the transaction's scratch: the changes it recorded


def record_change(session: Session, kind: str, ref: str) -> None:
    """Record a change in the caller's transaction: announced once it commits."""
    session.add(ChangeEvent(kind=kind, ref=ref, created_at=utcnow()))
    transaction_scratch(session).setdefault(_RECORDED, []).append((kind, ref))


def on_committed_changes(
    sessions: sessionmaker[Session], announce: Callable[[Sequence[Change]], None]
) -> None:
    """Call `announce` after every outermost commit of `sessions` that recorded changes."""

    def after_commit(session: Session) -> None:
        if not is_outermost_commit(session):
            return
        changes = peek_scratch(session, _RECORDED)
        if changes:
            try:
                announce(tuple(changes))
            except Exception:
                # Committed already: the others (and this node) still get it from the poll.
                log.warning("change_announce_failed", exc_info=True)

    event.listen(sessions, "after_commit", after_commit)


class ChangeFeed:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        interval: float,
        nudges: ChangeNudges | None = None,
    ) -> None:
        self._sessions = session_factory
        self._interval = interval
        self._nudges = nudges
        self._wake = asyncio.Event()
        self._listeners: dict[str, list[Listener]] = {}
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None

    def subscribe(self, kind: str, listener: Listener) -> None:
        """Call `listener(ref)` for every change of `kind`, made here or by anyone else."""
        self._listeners.setdefault(kind, []).append(listener)

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Deliver this process's own changes when they commit, and nudge the other nodes."""
        on_committed_changes(sessions, self._committed)

    def _committed(self, changes: Sequence[Change]) -> None:
        for kind, ref in changes:
            self._deliver(kind, ref)
        if self._nudges is not None:
            self._nudges.publish()

    def _deliver(self, kind: str, ref: str) -> None:
        for listener in self._listeners.get(kind, ()):
            listener(ref)

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
            self._deliver(kind, ref)
        return len(rows)

    def prune(self) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                delete(ChangeEvent).where(ChangeEvent.created_at < utcnow() - RETENTION)
            )

    async def start(self) -> None:
        self._last_id = await asyncio.to_thread(self._latest_id)
        self._wake = asyncio.Event()  # bound to the running loop
        self._task = asyncio.create_task(self._run(), name="change-feed")
        if self._nudges is not None:
            self._listen_task = asyncio.create_task(
                self._nudges.listen(self._wake), name="change-nudges"
            )

    async def stop(self) -> None:
        for task in (self._listen_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._nudges is not None:
            self._nudges.close()

    async def _run(self) -> None:
        polls = 0
        while True:
            # A nudge (Redis) ends the wait early; the interval is the safety net.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await asyncio.to_thread(self.poll_once)
                polls += 1
                if polls % 14400 == 0:  # about hourly at the default interval
                    await asyncio.to_thread(self.prune)
            except Exception:
                # A database hiccup must not kill the poller; caches still expire by TTL.
                log.warning("change_feed_poll_failed", exc_info=True)
