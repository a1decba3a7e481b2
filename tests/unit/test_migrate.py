"""The up-to-date check that runs without alembic agrees with alembic itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from quantumlock.db.migrate import (
    HEAD_REVISION,
    current_revision,
    head_revision,
    is_up_to_date,
    upgrade,
)


def test_head_revision_is_alembics_head() -> None:
    # A new migration must move HEAD_REVISION, or every node would refuse the new schema.
    assert head_revision("sqlite://") == HEAD_REVISION


@pytest.mark.parametrize("target", [None, "0001", "0002", "head"])
def test_current_revision_reads_what_alembic_recorded(tmp_path: Path, target: str | None) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    if target is not None:
        upgrade(url, target)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            alembic_says = MigrationContext.configure(conn).get_current_revision()
        assert current_revision(engine) == alembic_says
        assert is_up_to_date(engine) is (alembic_says == HEAD_REVISION)
        assert (alembic_says is None) is (target is None)
    finally:
        engine.dispose()


def test_several_recorded_revisions_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0002')"))
        with pytest.raises(RuntimeError, match="several revisions"):
            current_revision(engine)
    finally:
        engine.dispose()
