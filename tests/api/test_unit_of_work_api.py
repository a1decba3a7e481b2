"""#17: services only flush; the caller's unit of work commits or rolls back all of it.

Two services write in one unit of work: an error in the second rolls back the first's
writes too, and the change the first recorded is announced to nobody. Done right, both
land and the change is announced once, at the commit.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.accounts.service import CHANGE_KIND_ACCOUNT, AccountService
from quantumlock.auth.models import ApiKey
from quantumlock.core.errors import Conflict
from quantumlock.licensing.models import SigningKey
from quantumlock.runtime import Runtime


def rows_in(session: Session, account_id: str) -> tuple[int, int, int]:
    """The account's rows: the account, its API keys, its signing keys."""
    return (
        session.scalar(select(func.count()).where(Account.id == account_id)) or 0,
        session.scalar(select(func.count()).where(ApiKey.account_id == account_id)) or 0,
        session.scalar(select(func.count()).where(SigningKey.account_id == account_id)) or 0,
    )


def rows_of(runtime: Runtime, account_id: str) -> tuple[int, int, int]:
    with runtime.unit_of_work() as session:
        return rows_in(session, account_id)


def test_an_error_in_the_second_service_rolls_back_both(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    heard: list[str] = []
    runtime.changes.subscribe(CHANGE_KIND_ACCOUNT, heard.append)
    made: list[str] = []
    with pytest.raises(Conflict, match="Rotate first"), runtime.unit_of_work() as session:
        accounts = AccountService(session)
        created = accounts.create(
            name="Both Or None", email="ops@both.example", plan="startup", hasher=runtime.hasher
        )
        made.append(created.account.id)
        accounts.set_limits(created.account.id, burst=7)  # records a change
        licensing = app.state.licensing.service(session)
        key = licensing.rotate_signing_key(created.account.id)  # the second service writes
        assert rows_in(session, created.account.id) == (1, 1, 1)  # flushed, not committed
        licensing.retire_signing_key(created.account.id, key.kid)  # and fails
    assert rows_of(runtime, made[0]) == (0, 0, 0)
    assert heard == []
    assert app.state.licensing.secret_cache.hmac_secret(made[0]) is None


def test_two_services_commit_together_and_announce_at_the_commit(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    heard: list[str] = []
    runtime.changes.subscribe(CHANGE_KIND_ACCOUNT, heard.append)
    with runtime.unit_of_work() as session:
        accounts = AccountService(session)
        created = accounts.create(
            name="Both", email="ops@both.example", plan="startup", hasher=runtime.hasher
        )
        accounts.set_limits(created.account.id, burst=7)
        app.state.licensing.service(session).rotate_signing_key(created.account.id)
        assert heard == []  # not before the commit
    assert heard == [created.account.id]
    assert rows_of(runtime, created.account.id) == (1, 1, 1)


def test_a_secret_made_in_a_unit_of_work_that_rolls_back_is_never_cached(
    app: FastAPI,
) -> None:
    runtime: Runtime = app.state.runtime
    cache = app.state.licensing.secret_cache
    with runtime.unit_of_work() as session:
        account_id = (
            AccountService(session)
            .create(
                name="Secret", email="ops@secret.example", plan="startup", hasher=runtime.hasher
            )
            .account.id
        )
    with pytest.raises(RuntimeError), runtime.unit_of_work() as session:
        service = app.state.licensing.service(session)
        made = service._hmac_secret(account_id)
        assert service._hmac_secret(account_id) == made  # found again before the commit
        assert cache.hmac_secret(account_id) is None
        raise RuntimeError("the request fails")
    assert cache.hmac_secret(account_id) is None
    with runtime.unit_of_work() as session:
        kept = app.state.licensing.service(session)._hmac_secret(account_id)
        # PostgreSQL rolled the savepoint back with the rest. SQLite kept it: a savepoint
        # that opens the transaction commits when released (pysqlite begins transactions
        # only before DML; LicenseService._insert_once). Either way what is cached is
        # what the database holds.
        sqlite = runtime.engine.dialect.name == "sqlite"
        assert (kept == made) is sqlite
        if not sqlite:  # made here, so cached only once committed
            assert cache.hmac_secret(account_id) is None
    assert cache.hmac_secret(account_id) == kept
