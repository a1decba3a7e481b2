"""The validation cache's batched load finds each key through the unique index on SQLite.

With `mode = ?` beside an IN list of five keys or more, SQLite's planner (it has no
statistics) took the (account_id, mode, created_at) listing index and walked every license
of the account: at 1M licenses, seconds per query and a validate benchmark at 0-20 rps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import sqlite

from quantumlock.db.migrate import upgrade
from quantumlock.licensing.repository import _MANY_FOR_VALIDATION


@pytest.mark.parametrize("keys", [1, 5, 100, 500])
def test_the_batched_load_seeks_the_unique_index(tmp_path: Path, keys: int) -> None:
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    statement = _MANY_FOR_VALIDATION.params(
        account_id="cust_x", license_keys=[f"QLOCK-0000-0000-{i:04X}" for i in range(keys)]
    ).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    engine = create_engine(url)
    with engine.connect() as conn:
        plan = " ".join(row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    engine.dispose()
    assert "(account_id=? AND license_key=?)" in plan, plan
