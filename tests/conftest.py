"""Shared fixtures. API tests run once on SQLite and once on PostgreSQL.

Each pytest worker gets its own database (a SQLite file, or a PostgreSQL database it
creates and drops); each test gets its own app and its own accounts, so tests never see
each other's rows.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from _pytest.nodeid import coerce_node_id
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.bootstrap import api_key_hasher
from quantumlock.db.migrate import upgrade
from quantumlock.settings import Settings
from tests.secret_scan import (  # noqa: F401 - pytest finds hooks and fixtures here
    REGISTRY,
    _flush_logs_for_the_secret_scan,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    secrets_registry,
    watch_client,
)

PG_DSN = os.environ.get("QL_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
MASTER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
REGISTRY.add(MASTER_KEY)


# `make test` leaves the tests marked `long` (second runs of a behaviour `make test` already
# checks in a cheaper variant, and soak-type tests) to `make test-long`, which passes --long.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", help="also run the tests marked long (make test-long)"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-xdist (3.8) tells --dist loadgroup a test's group by suffixing `item._nodeid`,
    # which pytest 9.2 no longer reads (`nodeid` comes from `item._id`): without this copy
    # every xdist_group was split across the workers (two clusters at once, fixtures of one
    # module set up twice).
    for item in items:
        tagged = getattr(item, "_nodeid", None)
        if isinstance(tagged, str) and tagged != item.nodeid:
            item._id = coerce_node_id(tagged)
    if config.getoption("--long"):
        return
    long = [item for item in items if item.get_closest_marker("long") is not None]
    long += [item for item in items if _saml_on_postgres_only_repeats(item)]
    if long:
        config.hook.pytest_deselected(items=long)
        dropped = set(map(id, long))
        items[:] = [item for item in items if id(item) not in dropped]


# The in-process SAML tests check protocol rules, which do not depend on the database: on
# PostgreSQL they are `make test-long`'s, except those that spend a request or an assertion
# (conditional UPDATE / INSERT). tests/saml/test_saml_cluster.py races them on PostgreSQL.
# So are the portal's page tests (the services under them run on both databases in the API
# tests), except those whose SQL is the portal's own: counter upserts, search filters,
# isolation, quotas.
_SAML_DIRS = ("saml", "saml_protocol", "saml_config", "portal")
_SAML_ON_BOTH = (
    "spent_once",
    "replay",
    "flush",
    "failed_write",
    "search_and_filters",
    "another_account",
    "quota",
    "isolation",
)


def _saml_on_postgres_only_repeats(item: pytest.Item) -> bool:
    if item.path.parent.name not in _SAML_DIRS or item.path.parent.parent != Path(__file__).parent:
        return False
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params.get("database_url") != "postgres" or "cluster" in item.path.name:
        return False
    return not any(word in item.name for word in _SAML_ON_BOTH)


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def need_postgres() -> None:
    if postgres_reachable():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL must be reachable on CI (127.0.0.1:5432, user postgres).")
    pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")


@contextmanager
def fresh_postgres_database(prefix: str = "ql_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped when the block ends."""
    need_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this worker, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'quantumlock.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        master_key=MASTER_KEY,
        change_poll_interval=0.05,
        last_used_flush_interval=0.2,
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    built = create_app(settings)
    yield built
    # A test that never started the app (services driven directly) never ran its shutdown:
    # its pooled connection would outlive it until a garbage collection, and on PostgreSQL a
    # worker running hundreds of such tests ran the server out of connections.
    built.state.runtime.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        watch_client(test_client)
        yield test_client


@dataclass(frozen=True)
class AccountFixture:
    id: str
    admin_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


class MakeAccount(Protocol):
    def __call__(self, plan: str = ..., name: str = ...) -> AccountFixture: ...


@pytest.fixture
def make_account(settings: Settings, app: FastAPI) -> MakeAccount:
    runtime = app.state.runtime
    hasher = api_key_hasher(settings)

    def make(plan: str = "business", name: str = "ACME Corp") -> AccountFixture:
        with runtime.unit_of_work() as session:
            created = AccountService(session).create(
                name=name, email="admin@acme.example", plan=plan, hasher=hasher
            )
        REGISTRY.add(created.admin_key.secret)
        return AccountFixture(created.account.id, created.admin_key.secret)

    return make


@pytest.fixture
def account(make_account: MakeAccount) -> AccountFixture:
    return make_account()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
