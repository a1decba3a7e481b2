"""Alembic, driven from code so `quantumlock init` needs no alembic.ini on disk.

Checking that a database is up to date (every CLI command that opens it, `serve` before it
starts) does not import alembic: that import is ~0.2 s of a cold start on a 2-core VM.
`HEAD_REVISION` names the newest migration (a unit test holds it equal to alembic's own
head), and the database's revision is the one row alembic keeps in `alembic_version`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, column, inspect, select, table

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's `revision`; a new migration changes it (tests/unit/test_migrate.py).
HEAD_REVISION = "0010"
VERSION_TABLE = "alembic_version"  # alembic's default, which env.py keeps


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    from quantumlock.db.engine import secure_sqlite_files

    secure_sqlite_files(url)  # before alembic's engine creates the file with the umask
    command.upgrade(alembic_config(url), revision)
    secure_sqlite_files(url)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never initialised)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        version = table(VERSION_TABLE, column("version_num"))
        revisions = conn.execute(select(version.c.version_num)).scalars().all()
    if len(revisions) > 1:  # several heads: not a history this code ever writes
        raise RuntimeError(f"the database records several revisions: {sorted(revisions)}")
    return revisions[0] if revisions else None


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION


def head_revision(url: str) -> str | None:
    """The newest migration, as alembic reads the scripts (what HEAD_REVISION must equal)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
