"""The background flush of requests and 429s per key and day into key_usage_daily: counts
add up across flushes (an upsert on SQLite and on PostgreSQL), and a failed write puts
the batch back for the next flush."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI

from quantumlock.auth import usage as usage_module
from quantumlock.auth.usage import KeyUsageService, day_text, epoch_day
from tests.conftest import AccountFixture, MakeAccount

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
