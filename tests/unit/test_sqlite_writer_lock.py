"""SQLite write transactions take turns inside the process (quantumlock.db.engine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from quantumlock.db.engine import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", pool_size=4)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    engine.dispose()


def writer_lock(engine: Engine) -> threading.Lock:
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        lock: threading.Lock = dbapi.writer_lock
        return lock


def test_a_write_holds_the_lock_until_its_transaction_ends(engine: Engine) -> None:
    lock = writer_lock(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM t")).all()
        assert not lock.locked()  # reads take no turn
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert lock.locked()
        conn.execute(text("UPDATE t SET v = 'b'"))  # the same transaction: no second turn
        conn.commit()
        assert not lock.locked()
        conn.execute(text("DELETE FROM t"))
        assert lock.locked()
        conn.rollback()
        assert not lock.locked()
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('c')"))
    # Returned to the pool without a commit: the pool's reset rolls back and frees it.
    assert not lock.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t")).scalars().all() == ["b"]


def test_a_failed_write_keeps_its_turn_until_the_rollback(engine: Engine) -> None:
    lock = writer_lock(engine)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        conn.commit()
        with pytest.raises(Exception, match="UNIQUE"):
            conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert lock.locked()
        conn.rollback()
        assert not lock.locked()


def test_ddl_outside_a_transaction_gives_its_turn_back(engine: Engine) -> None:
    lock = writer_lock(engine)
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE u (id INTEGER PRIMARY KEY)"))
        assert not lock.locked()  # pysqlite runs DDL outside a transaction
        conn.execute(text("DROP TABLE u"))
        assert not lock.locked()


def test_a_second_writer_waits_for_the_first_in_the_process_not_in_sqlite(
    engine: Engine,
) -> None:
    lock = writer_lock(engine)
    first_wrote = threading.Event()
    order: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
            first_wrote.set()
            time.sleep(0.2)
            order.append("first commits")
            conn.commit()

    def second() -> None:
        first_wrote.wait()
        with engine.connect() as conn:
            # No busy handler: had this writer reached SQLite while the first holds its
            # write lock, it would fail at once with "database is locked". It can only
            # succeed by waiting on the process's writer lock.
            conn.execute(text("PRAGMA busy_timeout=0"))
            try:
                conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
                order.append("second wrote")
                conn.commit()
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)
            finally:
                conn.execute(text("PRAGMA busy_timeout=30000"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_wrote.wait()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    assert order == ["first commits", "second wrote"]
    assert not lock.locked()


def test_many_concurrent_writers_all_commit(engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"{n}-{i}"})
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 160
    assert not writer_lock(engine).locked()
