"""Storing new licenses: in the caller's session, or grouped with other requests' (group commit).

Profiled at 64 connections on one worker (bench/README.md, "generate"), a generate spent over
half its time queued for the database's write lock: each request's own short transaction (four
statements and a commit) handed the GIL back and forth between ~40 busy threads at every
statement, so the lock was held for ~6 ms per license, and PostgreSQL's usage row likewise
until each commit's fsync. `LicenseWriter` lets the requests that are waiting for the lock
share one transaction: the first waiter becomes the leader, takes everything queued, writes
it with one statement per table and one quota UPDATE per account, commits once, and hands
each request its own outcome. Signing happens before, outside any lock. The API uses the
same batches through `AsyncLicenseWriter` (requests on the event loop, one writer thread).

The quota stays exact, on one node or many: a group of k licenses is counted by one
conditional UPDATE (`used + k <= limit`), and only if that is refused, one at a time
(`used < limit`), so the licenses that still fit are granted and the rest refused. A failure
fails only its own request: a batch that fails is written again one license per
transaction, and each request gets its own license's result. What a request must commit with
its license (its idempotent answer, `NewLicense.also`) is written in the same transaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.licensing.models import License, LicenseEvent
from quantumlock.licensing.repository import LicenseRepository

MAX_BATCH = 128  # licenses per grouped transaction


class KeyTaken(Exception):
    """The license key is already stored: draw a new one."""


class QuotaRefused(Exception):
    """The monthly quota has no room for this license (checked by the conditional UPDATE)."""


@dataclass(slots=True)
class NewLicense:
    """A signed license ready to store, with its audit record and what it counts against."""

    license: License
    event: LicenseEvent
    period: str | None  # the quota period it is counted in; None: not counted (test mode)
    limit: int | None  # the account's monthly limit; None: unlimited
    # Written in the same transaction as the license, with the new quota count (None: not
    # counted): the request's idempotent answer, so a license never lands without it.
    also: Callable[[Session, int | None], None] | None = None


def store_in(session: Session, new: NewLicense) -> int | None:
    """Store one license in the caller's unit of work (flush only; the caller commits).

    Counted first: refused, nothing of this license was written, so the caller's other
    writes stay intact. The new quota count, or None when not counted. Raises QuotaRefused
    or KeyTaken (checked before writing; a race for the same 48-bit key in the same instant
    is left to the unique index).
    """
    repo = LicenseRepository(session)
    lic = new.license
    if repo.key_exists(lic.account_id, lic.license_key):
        raise KeyTaken(lic.license_key)
    used: int | None = None
    if new.period is not None:
        used = repo.consume_quota(lic.account_id, new.period, new.limit)
        if used is None:
            raise QuotaRefused
    repo.add(lic)
    repo.add_event(new.event)
    session.flush()
    if new.also is not None:
        new.also(session, used)
    return used


@dataclass(eq=False, slots=True)
class _Pending:
    new: NewLicense
    done: bool = False
    used: int | None = None
    error: BaseException | None = None


@dataclass(eq=False)
class LicenseWriter:
    """Group commit for new licenses, per process; see the module docstring."""

    sessions: sessionmaker[Session]
    max_batch: int = MAX_BATCH
    _queue: list[_Pending] = field(default_factory=list)
    _leading: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def store(self, new: NewLicense) -> int | None:
        """Store `new` (committed when this returns); the new quota count, or None when not
        counted. Raises QuotaRefused, KeyTaken or the database's error for this license.
        Blocks: call it from a worker thread, with no database connection of its own held
        (the leader takes one from the same pool)."""
        item = _Pending(new)
        with self._cond:
            self._queue.append(item)
            while True:
                while not item.done and self._leading:
                    self._cond.wait()
                if item.done:
                    break
                self._leading = True
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                self._cond.release()
                try:
                    self.write_batch(batch)
                except BaseException as exc:  # no request of the batch may wait forever
                    for pending in batch:
                        if not pending.done:
                            pending.error, pending.done = exc, True
                    raise
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.used

    def write_batch(self, batch: list[_Pending]) -> None:
        """Write `batch` and mark each item done with its outcome: one transaction for the
        whole batch; if it fails, one per license."""
        try:
            with self.sessions() as session:
                self._write_in(session, batch)
                session.commit()
        except OperationalError as exc:  # the database itself (locked, gone): all of them
            for item in batch:
                item.error, item.done = exc, True
            return
        except Exception as exc:
            if len(batch) == 1:
                item = batch[0]
                item.error = KeyTaken() if self._key_taken(exc, item.new.license) else exc
                item.used, item.done = None, True
                return
            for item in batch:  # a failure fails only its own request
                item.used = item.error = None
                self.write_batch([item])
            return
        for item in batch:
            item.done = True

    def _key_taken(self, exc: Exception, lic: License) -> bool:
        if not isinstance(exc, IntegrityError):
            return False
        with self.sessions() as session:
            return LicenseRepository(session).key_exists(lic.account_id, lic.license_key)

    @staticmethod
    def _write_in(session: Session, batch: Sequence[_Pending]) -> None:
        repo = LicenseRepository(session)
        granted: list[_Pending] = []
        for group in _quota_groups(batch).values():
            first = group[0].new
            if first.period is None:
                granted += group
                continue
            counts = repo.consume_quota_many(
                first.license.account_id, first.period, first.limit, len(group)
            )
            for item, used in zip(group, counts, strict=False):
                item.used = used
                granted.append(item)
            for item in group[len(counts) :]:
                item.error = QuotaRefused()
        if granted:
            repo.insert_many([item.new.license for item in granted])
            repo.insert_events([item.new.event for item in granted])
        for item in granted:
            if item.new.also is not None:
                item.new.also(session, item.used)


class AsyncLicenseWriter:
    """The same group commit for requests served on the event loop: they queue their
    license and await it; one flush at a time writes everything queued so far in the one
    writer thread. Profiled at 64 connections, the thread-per-request form kept ten worker
    threads waking one another for the GIL around every statement, and the event loop,
    waiting its turn each time, left the pool half idle."""

    def __init__(self, writer: LicenseWriter) -> None:
        self.writer = writer
        self._queue: list[tuple[_Pending, asyncio.Future[int | None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="license-writer")

    async def store(self, new: NewLicense) -> int | None:
        """Store `new` (committed when this returns); the new quota count, or None when not
        counted. Raises QuotaRefused, KeyTaken or the database's error for this license."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._queue.append((_Pending(new), future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        # Shielded: a request cancelled (its client gone) leaves its license to be written
        # with the others; the batch cannot be taken back half-way.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                taken = self._queue[: self.writer.max_batch]
                del self._queue[: self.writer.max_batch]
                batch = [pending for pending, _ in taken]
                try:
                    await loop.run_in_executor(self._thread, self.writer.write_batch, batch)
                except BaseException as exc:  # no request of the batch may wait forever
                    for pending, future in taken:
                        if not future.done():
                            future.set_exception(pending.error or exc)
                    if not isinstance(exc, Exception):
                        raise  # cancelled (shutdown)
                    continue
                for pending, future in taken:
                    if future.done():
                        continue
                    if pending.error is not None:
                        future.set_exception(pending.error)
                    else:
                        future.set_result(pending.used)
        finally:
            self._flushing = None

    async def aclose(self) -> None:
        """Wait for the licenses queued so far to be written, then stop the thread."""
        while self._flushing is not None:
            await asyncio.wait([self._flushing])
        self._thread.shutdown(wait=True)


def _quota_groups(batch: Sequence[_Pending]) -> dict[tuple[Any, ...], list[_Pending]]:
    groups: dict[tuple[Any, ...], list[_Pending]] = {}
    for item in batch:
        new = item.new
        key = (new.license.account_id, new.period, new.limit)
        groups.setdefault(key, []).append(item)
    return groups
