"""One unit of work per request or CLI command: services flush, the caller commits.

`unit_of_work(sessions)` opens a session, commits when the block ends normally and rolls
back when it raises, so two services' writes in one block land together or not at all.
It is a plain context manager, not a yield dependency: a web handler opens and closes it in
its own worker thread (see `quantumlock.web.security.unit_of_work`).

Not `sessionmaker.begin()`: that refuses any statement after a `commit()` inside the block,
and `LicenseService.generate` still commits between its reads and its write transaction.

`after_commit(session, fn)` runs `fn` once the session's outermost transaction commits and
drops it if that transaction rolls back; what it does (fill a cache, credit a budget) must
not happen for a write that never lands. `transaction_scratch(session)` is a dict that
lives exactly as long as the outermost transaction: what a service created in this unit of
work and must find again before it is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

log = structlog.get_logger(__name__)

_CALLBACKS = "quantumlock.after_commit"
_SCRATCH = "quantumlock.scratch"


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_CALLBACKS, []).append(callback)


def transaction_scratch(session: Session) -> dict[Any, Any]:
    scratch: dict[Any, Any] = session.info.setdefault(_SCRATCH, {})
    return scratch


def peek_scratch(session: Session, key: str) -> Any:
    """`transaction_scratch(session).get(key)`, without creating the scratch."""
    scratch = session.info.get(_SCRATCH)
    return None if scratch is None else scratch.get(key)


def is_outermost_commit(session: Session) -> bool:
    """In an `after_commit` listener: the commit is the outermost transaction's (SQLAlchemy
    also calls `after_commit` when a SAVEPOINT is released)."""
    return not session.in_nested_transaction()


@event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    if not is_outermost_commit(session):
        return
    callbacks = session.info.pop(_CALLBACKS, None)
    for callback in callbacks or ():
        try:
            callback()
        except Exception:
            # The write is committed; a cache that is not filled only costs a reload.
            log.warning("after_commit_callback_failed", exc_info=True)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the callbacks have run and gone; after a rollback they must not run.
    # The scratch goes here, after every after_commit listener has read it.
    if transaction.parent is None:
        session.info.pop(_CALLBACKS, None)
        session.info.pop(_SCRATCH, None)
