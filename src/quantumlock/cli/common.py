from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer._click.exceptions import ClickException  # typer's own (vendored) click

from quantumlock.bootstrap import MasterKeyError, make_sealer
from quantumlock.cli import datadir
from quantumlock.cli.datadir import DataDir
from quantumlock.core.errors import AppError
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.db.migrate import is_up_to_date
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.settings import Settings

if TYPE_CHECKING:
    from quantumlock.accounts.service import AccountService

# The domain services (their ORM models, repositories and pydantic schemas) load inside the
# commands that use them, not with the command tree: `serve` needs none of them in its
# supervisor process, and they were most of the CLI's import time.

console = Console(soft_wrap=True)
# On a terminal, messages wrap between words at its width (rich's word wrap, never mid-word);
# elsewhere (a pipe, a log collector) an error stays one line, whatever its length.
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())

USAGE = 2  # exit status of a usage error, everywhere


def fail(detail: str, exit_code: int = 1, *, code: str = "ERROR") -> NoReturn:
    """The one error format: `error: CODE: detail` on stderr, then exit."""
    err_console.print(
        Text.assemble(("error:", "red"), f" {code}: {detail}"), highlight=False, markup=False
    )
    raise typer.Exit(exit_code)


def report_usage_error(exc: ClickException) -> None:
    """A usage error (missing option, bad value) as `error: USAGE_ERROR: …` on stderr."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    err_console.print(
        Text.assemble(("error:", "red"), f" USAGE_ERROR: {exc.format_message()}{hint}"),
        highlight=False,
        markup=False,
    )


def data_dir() -> DataDir:
    return datadir.resolve()


def settings() -> Settings:
    """The operator's settings, on the data dir `quantumlock.cli.datadir` finds."""
    return Settings(data_dir=data_dir().path)


def database_location(cfg: Settings) -> str:
    """The database for messages: the SQLite file, or the URL without its password."""
    from sqlalchemy.engine import make_url

    url = make_url(cfg.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def private_data_dir(cfg: Settings) -> None:
    """The data dir (master key, bootstrap key, SQLite files) the owner's alone: 0700,
    also when it existed before `init` with the umask's mode."""
    path = cfg.data_dir
    try:
        if path.is_dir() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except PermissionError:  # not ours: leave it to its owner
        pass


def check_master_key(cfg: Settings, engine: Engine) -> None:
    """Refuse (one line, exit 1) a master key that does not open the database's canary;
    seal the canary first if the database has none (quantumlock.keyring.canary)."""
    from quantumlock.keyring.canary import CanaryMismatch, ensure_canary

    try:
        if ensure_canary(engine, make_sealer(cfg), cfg.master_key_source):
            console.print("Sealed the master-key canary.")
    except CanaryMismatch as exc:
        fail(f"{exc} (database {database_location(cfg)})", code="MASTER_KEY")
    except MasterKeyError as exc:
        fail(f"{exc} (data dir {data_dir().describe()})", code="MASTER_KEY")


@contextmanager
def initialised_engine(cfg: Settings) -> Iterator[Engine]:
    """An engine on a database `init` has brought up to date; a clear refusal otherwise."""
    engine = make_engine(cfg.resolved_database_url, pool_size=1)
    try:
        try:
            up_to_date = is_up_to_date(engine)
        except OperationalError as exc:  # the driver's reason, never the URL's password
            fail(
                f"cannot open the database {database_location(cfg)} ({exc.orig}); data dir "
                f"{data_dir().describe()}: run `quantumlock init` first?",
                code="DATABASE_UNAVAILABLE",
            )
        if not up_to_date:
            fail(
                f"the database {database_location(cfg)} is not initialised or not up to date "
                f"(data dir {data_dir().describe()}): run `quantumlock init`.",
                code="NOT_INITIALISED",
            )
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_session(cfg: Settings) -> Iterator[Session]:
    """The command's unit of work on an initialised database: committed when the command's
    block ends, rolled back when it fails; AppErrors become a clean CLI error."""
    with initialised_engine(cfg) as engine:
        factory = make_session_factory(engine)
        if cfg.redis_url:
            # Running nodes hear about this command's changes at once, not at their next poll.
            from quantumlock.db.nudges import ChangeNudges

            ChangeNudges(cfg.redis_url, cfg.redis_prefix).install(factory)
        try:
            with unit_of_work(factory) as session:
                yield session
        except AppError as exc:  # in which deployment: the wrong one is a common cause
            fail(f"{exc.detail} (data dir {data_dir().describe()})", code=exc.code)
        except MasterKeyError as exc:
            fail(f"{exc} (data dir {data_dir().describe()})", code="MASTER_KEY")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def split_csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def account_service(session: Session) -> AccountService:
    from quantumlock.accounts.service import AccountService

    return AccountService(session)
