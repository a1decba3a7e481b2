"""The background flush of requests and 429s per key and day into key_usage_daily: counts
add up across flushes (an upsert on SQLite and on PostgreSQL), and a failed write puts
the batch back for the next flush."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.auth import usage as usage_module
from quantumlock.auth.usage import KeyUsageService, day_text, epoch_day
from quantumlock.bootstrap import api_key_hasher
from quantumlock.settings import Settings
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.secret_scan import REGISTRY

TODAY = date(2026, 12, 3)
DAY = (TODAY - date(1970, 1, 1)).days


def stored(app: FastAPI, account_id: str) -> list[tuple[str, int, int]]:
    with app.state.runtime.unit_of_work() as session:
        rows = KeyUsageService(session).daily(account_id, 2, today=TODAY)
    return [(r.day, r.requests, r.throttled) for r in rows]


def test_day_numbers() -> None:
    assert day_text(DAY) == "2026-12-03"
    assert epoch_day(DAY * 86400 + 86399.9) == DAY and epoch_day((DAY + 1) * 86400) == DAY + 1


def test_flushes_add_up(app: FastAPI, make_account: MakeAccount) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    auth = app.state.auth
    counters = app.state.runtime.key_usage
    assert auth.key_usage is counters  # the request path's counters are the ones flushed
    counters.add((a.id, "key_one", DAY), 3, 1)
    counters.add((a.id, "key_one", DAY - 1), 2, 0)
    counters.add((b.id, "key_two", DAY), 7, 0)
    counters.add(("cust_deleted_meanwhile", "key_three", DAY), 1, 0)  # dropped, not retried
    auth.flush_key_usage()
    assert len(counters) == 0
    counters.add((a.id, "key_one", DAY), 1, 1)
    auth.flush_key_usage()
    assert stored(app, a.id) == [("2026-12-02", 2, 0), ("2026-12-03", 4, 2)]
    assert stored(app, b.id) == [("2026-12-02", 0, 0), ("2026-12-03", 7, 0)]
    with app.state.runtime.unit_of_work() as session:
        top = KeyUsageService(session).top_keys(a.id, 30, today=TODAY)
    assert [(k.key_id, k.requests, k.throttled) for k in top] == [("key_one", 6, 2)]


def test_a_failed_write_is_restored(
    app: FastAPI, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = app.state.auth
    counters = app.state.runtime.key_usage
    counters.add((account.id, "key_one", DAY), 5, 2)

    def broken(self: KeyUsageService, counts: object) -> None:
        raise RuntimeError("database down")

    with monkeypatch.context() as patch:
        patch.setattr(usage_module.KeyUsageService, "record", broken)
        with pytest.raises(RuntimeError):
            auth.flush_key_usage()
    assert len(counters) == 1  # back for the next flush
    counters.add((account.id, "key_one", DAY), 1, 0)  # counted meanwhile
    auth.flush_key_usage()
    assert stored(app, account.id)[-1] == ("2026-12-03", 6, 2)


def test_the_request_path_counts_without_a_write(settings: Settings) -> None:
    """With the key cached, an API request writes nothing: the count is in memory until the
    flush (here by hand: the background one is set not to run during the test). Reads are
    left out only because the change feed polls the same engine meanwhile."""
    quiet = settings.model_copy(update={"last_used_flush_interval": 3600.0})
    app = create_app(quiet)
    with app.state.runtime.unit_of_work() as session:
        created = AccountService(session).create(
            name="Quiet", email="q@example.com", plan="business", hasher=api_key_hasher(quiet)
        )
    account_id, key = created.account.id, created.admin_key.secret
    REGISTRY.add(key)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = app.state.runtime.engine
    try:
        with TestClient(app) as client:
            assert client.get("/api/v2/me", headers=bearer(key)).status_code == 200  # cached
            event.listen(engine, "before_cursor_execute", seen)
            try:
                for _ in range(5):
                    assert client.get("/api/v2/me", headers=bearer(key)).status_code == 200
            finally:
                event.remove(engine, "before_cursor_execute", seen)
            writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
            assert writes == []
            app.state.auth.flush_all()
            with app.state.runtime.unit_of_work() as session:
                today = KeyUsageService(session).daily(account_id, 1)
            assert [(d.requests, d.throttled) for d in today] == [(6, 0)]
    finally:
        engine.dispose()
