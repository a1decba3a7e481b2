"""#17: a domain joins the app through its `install` alone (quantumlock.web.install).

A toy domain, defined only here, brings a router, a cache and a change kind. Two apps (two
nodes, each with its own change feed) on one database: a change one node commits reaches
its own cache at once (the after-commit hook of the change record) and the other node's
through the change feed, and a write that rolls back announces nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from sqlalchemy import Column, MetaData, String, Table, create_engine, delete, insert, select
from sqlalchemy.orm import Session

from quantumlock.app import DOMAINS, create_app
from quantumlock.core.errors import Conflict
from quantumlock.db.changes import record_change
from quantumlock.settings import Settings
from quantumlock.web.install import Infra
from quantumlock.web.security import unit_of_work

CHANGE_KIND_TOY = "toy_item"
toy_tables = MetaData()
toy_items = Table(
    "toy_items_test17",
    toy_tables,
    Column("name", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
)


class ToyService:
    """Rules as every service has them: a session in, writes flushed, never committed."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> str | None:
        return self.session.scalar(select(toy_items.c.value).where(toy_items.c.name == name))

    def put(self, name: str, value: str) -> None:
        self.session.execute(delete(toy_items).where(toy_items.c.name == name))
        self.session.execute(insert(toy_items).values(name=name, value=value))
        record_change(self.session, CHANGE_KIND_TOY, name)
        if value == "refused":  # an error after the writes: the unit of work rolls back
            raise Conflict("The toy refuses this value.")
        self.session.flush()


class ToyCache:
    def __init__(self) -> None:
        self._values: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.forgotten: list[str] = []

    def get(self, name: str) -> tuple[bool, str | None]:
        with self._lock:
            return name in self._values, self._values.get(name)

    def put(self, name: str, value: str | None) -> None:
        with self._lock:
            self._values[name] = value

    def forget(self, name: str) -> None:
        with self._lock:
            self._values.pop(name, None)
            self.forgotten.append(name)


router = APIRouter(prefix="/toy")


@router.get("/items/{name}")
def read_item(request: Request, name: str) -> dict[str, object]:
    cache: ToyCache = request.app.state.toy
    cached, value = cache.get(name)
    if not cached:
        with unit_of_work(request) as session:
            value = ToyService(session).get(name)
        cache.put(name, value)
    return {"value": value, "cached": cached}


@router.put("/items/{name}", status_code=204)
def write_item(request: Request, name: str, value: str) -> None:
    with unit_of_work(request) as session:
        ToyService(session).put(name, value)


class ToyDomain:
    """What a domain package's install module is: one `install(infra)`."""

    def install(self, infra: Infra) -> None:
        cache = ToyCache()
        infra.provide("toy", cache)
        infra.on_change(CHANGE_KIND_TOY, cache.forget)
        infra.include_router(router)


@pytest.fixture
def toy_table(settings: Settings) -> Iterator[None]:
    engine = create_engine(settings.resolved_database_url)
    toy_tables.create_all(engine)
    try:
        yield
    finally:
        toy_tables.drop_all(engine)
        engine.dispose()


def value_on(client: TestClient, name: str) -> dict[str, object]:
    resp = client.get(f"/toy/items/{name}")
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 2.0
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_toy_domain_installed_alone_announces_its_changes_across_two_nodes(
    settings: Settings, toy_table: None
) -> None:
    domains = (*DOMAINS, ToyDomain())
    # Node a never polls during the test: what it forgets, it forgets from the commit hook.
    node_a = create_app(settings.model_copy(update={"change_poll_interval": 600}), domains)
    node_b = create_app(settings, domains)  # polls every 0.05 s
    toy_a: ToyCache = node_a.state.toy
    toy_b: ToyCache = node_b.state.toy
    with TestClient(node_a) as a, TestClient(node_b) as b:
        assert a.put("/toy/items/x", params={"value": "1"}).status_code == 204
        assert toy_a.forgotten == ["x"]  # announced here before the response was sent
        wait_for(lambda: toy_b.forgotten == ["x"], "node b never heard of the first change")
        assert value_on(b, "x") == {"value": "1", "cached": False}
        assert value_on(b, "x") == {"value": "1", "cached": True}
        assert value_on(a, "x") == {"value": "1", "cached": False}

        assert a.put("/toy/items/x", params={"value": "2"}).status_code == 204
        assert toy_a.forgotten == ["x", "x"]
        assert value_on(a, "x") == {"value": "2", "cached": False}
        wait_for(lambda: value_on(b, "x")["value"] == "2", "node b never heard of the change")
        assert toy_b.forgotten == ["x", "x"]

        # A write that fails after recording its change rolls back and announces nothing.
        refused = a.put("/toy/items/x", params={"value": "refused"})
        assert refused.status_code == 409, refused.text
        time.sleep(0.3)  # several polls of node b's feed
        assert toy_a.forgotten == toy_b.forgotten == ["x", "x"]
        assert value_on(a, "x") == {"value": "2", "cached": True}
        assert value_on(b, "x") == {"value": "2", "cached": True}


def test_an_app_without_the_toy_domain_has_none_of_it(settings: Settings) -> None:
    app = create_app(settings)
    assert not hasattr(app.state, "toy")
    with TestClient(app) as client:
        assert client.get("/toy/items/x").status_code == 404
