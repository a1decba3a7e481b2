"""Review of #19 (users): second factors and one-time links under attack.

A TOTP code of non-ASCII digits must be a refusal, not a crash; a recovery code or a
one-time link used by two requests at once must work for exactly one of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI

from quantumlock.core.actor import Actor
from quantumlock.core.errors import Conflict, NotFound
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture

PASSWORD = "Quiet-river-lamp-42"


def _email() -> str:
    return f"r-{uuid.uuid4().hex[:10]}@example.com"


def _actor(account: AccountFixture) -> Actor:
    return Actor(account.id, "live", "key_review")


def _with_2fa(app: FastAPI, account: AccountFixture) -> tuple[str, str, list[str]]:
    runtime = app.state.runtime
    address = _email()
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        user = users.create(_actor(account), email=address, role="member", password=PASSWORD)
        _, secret, _ = users.start_totp(_actor(account), user.user.id)
        # A code of the previous step: the login below may then use the current one.
        earlier = datetime.now(UTC) - timedelta(seconds=30)
        codes = users.confirm_totp(_actor(account), user.user.id, pyotp.TOTP(secret).at(earlier))
    return address, secret, codes


@pytest.mark.parametrize("code", ["\uff11\uff12\uff13\uff14\uff15\uff16", "\u0661" * 6, "¹²³⁴⁵⁶"])
def test_non_ascii_digits_as_a_totp_code_are_a_refusal(
    app: FastAPI, account: AccountFixture, code: str
) -> None:
    address, _, _ = _with_2fa(app, account)
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        result = users.login(address, PASSWORD, totp_code=code, address=None)
    assert result.user is None and result.refused == "totp_invalid"


def _race(
    app: FastAPI,
    attempt: Callable[[UserService], object],
    other: Callable[[UserService], object] | None = None,
) -> list[object]:
    """Run `attempt` in two transactions at once; the first holds its transaction open a
    moment after its work, so the second reads before the first commits."""
    runtime = app.state.runtime
    results: list[object] = []
    errors: list[BaseException] = []
    started = threading.Event()

    def run(hold: float, work: Callable[[UserService], object]) -> None:
        try:
            with runtime.unit_of_work() as session:
                out = work(UserService(session, runtime.hasher, runtime.sealer))
                started.set()
                time.sleep(hold)
            results.append(out)
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=run, args=(0.5, attempt))
    first.start()
    started.wait(5)
    second = threading.Thread(target=run, args=(0.0, other or attempt))
    second.start()
    first.join(10)
    second.join(10)
    assert not errors, errors
    return results


@pytest.mark.postgres
def test_a_recovery_code_used_twice_at_once_works_once(
    app: FastAPI, account: AccountFixture, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    address, _, codes = _with_2fa(app, account)
    results = _race(
        app, lambda users: users.login(address, PASSWORD, totp_code=codes[0], address=None).user
    )
    assert sum(1 for r in results if r is not None) == 1, results


@pytest.mark.postgres
def test_a_one_time_link_used_twice_at_once_works_once(
    app: FastAPI, account: AccountFixture, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        created = users.create(_actor(account), email=_email(), role="member")
    token = created.link_token
    assert token is not None

    def use(users: UserService) -> object:
        try:
            return users.set_password_with_link(token, PASSWORD + "-x", address=None)
        except NotFound:  # the link was used
            return None

    results = _race(app, use)
    assert sum(1 for r in results if r is not None) == 1, results


@pytest.mark.postgres
def test_wrong_passwords_at_once_all_count_towards_the_lock_out(
    app: FastAPI, account: AccountFixture, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    runtime = app.state.runtime
    address = _email()
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        user_id = users.create(
            _actor(account), email=address, role="member", password=PASSWORD
        ).user.id
    _race(
        app, lambda users: users.login(address, "wrong-" + PASSWORD, totp_code=None, address=None)
    )
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        user = users.get(user_id)
        assert user is not None and user.failed_logins == 2, user.failed_logins if user else None


@pytest.mark.postgres
def test_two_owners_demoting_each_other_at_once_leave_an_owner(
    app: FastAPI, account: AccountFixture, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        one = users.create(_actor(account), email=_email(), role="owner").user.id
        two = users.create(_actor(account), email=_email(), role="owner").user.id

    def demote(target: str, by: str) -> Callable[[UserService], object]:
        def work(users: UserService) -> object:
            try:
                return users.update(_actor(account), target, role="admin", acting_user_id=by)
            except Conflict:  # the last owner stays
                return None

        return work

    _race(app, demote(one, two), demote(two, one))
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        assert users.repo.active_owners(account.id) >= 1


@pytest.mark.postgres
def test_a_totp_code_used_twice_at_once_works_once_and_never_crashes(
    app: FastAPI, account: AccountFixture, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    address, secret, _ = _with_2fa(app, account)
    code = pyotp.TOTP(secret).now()
    results = _race(
        app, lambda users: users.login(address, PASSWORD, totp_code=code, address=None).user
    )
    assert sum(1 for r in results if r is not None) == 1, results
