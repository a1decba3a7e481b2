"""The databases a benchmark run measures: made fresh for the run, removed at its end.

`sqlite` is a fresh temp data dir (the server's default database lives in it);
`postgres` is a fresh database on the server named by --postgres-dsn (by default
127.0.0.1:5432, user postgres, trust auth, as the tests use), dropped at the end;
`url` is a database the caller names with --database-url, used as it is and kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import URL
from sqlalchemy.engine import make_url

KINDS = ("sqlite", "postgres")
DEFAULT_PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
CONNECT_TIMEOUT_S = 5


@dataclass
class Database:
    kind: str  # "sqlite", "postgres" or "url"
    label: str  # for the report; never a password
    url: str | None  # QL_DATABASE_URL; None = SQLite in the data dir
    drop: Callable[[], None] | None = None


def sqlite() -> Database:
    return Database("sqlite", LABELS["sqlite"], None)


def given(url: str) -> Database:
    return Database("url", make_url(url).render_as_string(hide_password=True), url)


LABELS = {"sqlite": "SQLite (fresh temp data dir)", "postgres": "PostgreSQL (fresh database)"}


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages and the report."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    return " ".join(f"{k}={v}" for k, v in params.items() if k != "password")


def postgres(dsn: str) -> Database:
    """A fresh database named ql_bench_<random>; `drop` removes it (and its connections)."""
    name = f"ql_bench_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise RuntimeError(
            f"PostgreSQL ({safe_dsn(dsn)}): cannot create a database: {exc}"
        ) from exc
    params = conninfo_to_dict(dsn)
    port = params.get("port")
    url = URL.create(
        "postgresql+psycopg",
        username=str(params["user"]) if params.get("user") else None,
        password=str(params["password"]) if params.get("password") else None,
        host=str(params.get("host") or "127.0.0.1"),
        port=int(port) if port else None,
        database=name,
    )

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    label = f"PostgreSQL (fresh database {url.render_as_string(hide_password=True)})"
    return Database("postgres", label, url.render_as_string(hide_password=False), drop)


def make(kind: str, *, pg_dsn: str, url: str | None) -> Database:
    if kind == "url":
        if url is None:
            raise ValueError("a given database needs --database-url")
        return given(url)
    if kind == "sqlite":
        return sqlite()
    if kind == "postgres":
        return postgres(pg_dsn)
    raise ValueError(f"unknown database kind {kind!r}")


def data_dir(tmp: Path, kind: str) -> Path:
    return tmp / f"data-{kind}"
