"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

Every engine hides the SQL parameters in its errors (`hide_parameters`): an error's text
reaches the logs, and its parameters are request input (license keys, customer ids).
A SQLite database's files are the owner's alone (0600), whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

# How long a writer waits for the database (SQLite's busy timeout, and the process's
# writer lock below): then "database is locked", as SQLite itself would say.
SQLITE_BUSY_TIMEOUT_S = 30
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


class _WriterLockedConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns inside the process.

    SQLite admits one writer; the others wait in its busy handler, which polls with sleeps
    that grow to 100 ms. Under concurrent writes (64 clients generating licenses on one
    worker) that made waiting a lottery: a writer that had slept through a few polls lost
    the lock to newcomers again and again (p99 0.8-1.2 s, and wrk's 2 s timeouts). Here a
    connection takes the process's writer lock before its first write statement and gives
    it back when its transaction ends, so the process's writers queue on a lock that wakes
    the next one at once, and at most one per process polls SQLite (the other workers'
    writers still meet in its busy handler). Correctness never rests on this lock: SQLite's
    own locking is unchanged beneath it.
    """

    writer_lock: threading.Lock  # one per database file, set by make_engine
    _holds_writer_lock = False

    def cursor(self, *_args: Any, **_kwargs: Any) -> Any:
        return super().cursor(_WriterLockedCursor)

    def _before(self, sql: str) -> None:
        if not self._holds_writer_lock and _WRITES.match(sql):
            if not self.writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked")
            self._holds_writer_lock = True

    def _after(self) -> None:
        if self._holds_writer_lock and not self.in_transaction:
            self._release()  # a statement outside a transaction (DDL), or one that failed

    def _release(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


class _WriterLockedCursor(sqlite3.Cursor):
    connection: _WriterLockedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        self.connection._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection._after()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        self.connection._before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection._after()


# What SQLite keeps beside the database file: all hold its data.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
PRIVATE_FILE = 0o600


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_files(url: str) -> None:
    """Create the SQLite database file 0600 if it does not exist yet, and bring it and
    the files beside it (-wal, -shm, -journal) to 0600 if they are more open.

    SQLite creates its file with the process umask (0644 under the usual 022), and
    creates -wal and -shm with the database file's own mode: so a database file that is
    0600 before SQLite first opens it keeps all three private.
    """
    path = sqlite_file(url)
    if path is None:
        return
    # Exists already, or cannot be made (no such directory): SQLite gives its own error.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in _SQLITE_SIDE_FILES)):
        # Absent, or not ours (a read-only copy another user owns): nothing to do.
        with contextlib.suppress(OSError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(PRIVATE_FILE)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        secure_sqlite_files(url)
        # One writer lock per engine (an engine per database file per process).
        connection_class = type(
            "SqliteConnection", (_WriterLockedConnection,), {"writer_lock": threading.Lock()}
        )
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_S,
                "factory": connection_class,
            },
            pool_size=pool_size,
            max_overflow=2,  # for the background tasks (change feed, usage flush)
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers proceed during a write; NORMAL is durable across app crashes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cur.close()
            # -wal and -shm exist now (WAL mode opens them): private even if they were
            # left more open by an older version or another tool.
            secure_sqlite_files(url)

        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=2, pool_pre_ping=True, hide_parameters=True
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Every mapped class must be registered before a session's first query (a license's
    # foreign key names the accounts table): the CLI loads its services lazily, so a
    # command using one domain would otherwise see only that domain's models.
    import quantumlock.db.models  # noqa: F401

    return sessionmaker(engine, expire_on_commit=False)
