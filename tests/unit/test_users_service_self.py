"""UserService for a user acting on themself: changing the password (current one required,
strength rules, other sessions end), proving who they are again (password, code, recovery
code), ending every other session, and a reset link by email address."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.errors import ValidationFailed
from quantumlock.identity.models import User
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture

PASSWORD = "Quiet-river-lamp-42"
NEW = "Amber-Kettle-Orbit-77"


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with app.state.runtime.unit_of_work() as session:
        yield session


@pytest.fixture
def users(app: FastAPI, db: Session) -> UserService:
    runtime = app.state.runtime
    return UserService(db, runtime.hasher, runtime.sealer)


def make_user(users: UserService, account: AccountFixture, password: str | None = PASSWORD) -> User:
    email = f"u-{uuid.uuid4().hex[:10]}@example.com"
    actor = Actor.operator(account.id)
    return users.create(actor, email=email, role="member", password=password).user


def live(users: UserService, user: User) -> set[str]:
    return {row.id for row in users.sessions(Actor.operator(user.account_id), user.id)}


def start(users: UserService, user: User) -> str:
    return users.start_session(user, mfa=False, address=None, user_agent=None)[0].id


def test_change_password(users: UserService, account: AccountFixture) -> None:
    user = make_user(users, account)
    here, there = start(users, user), start(users, user)
    with pytest.raises(ValidationFailed, match="not your current password"):
        users.change_password(user, current="wrong", new=NEW, keep_session_id=here, address=None)
    with pytest.raises(ValidationFailed, match="at least 12"):
        users.change_password(
            user, current=PASSWORD, new="short1", keep_session_id=here, address=None
        )
    with pytest.raises(ValidationFailed, match="differ"):
        users.change_password(
            user, current=PASSWORD, new=PASSWORD, keep_session_id=here, address=None
        )
    assert live(users, user) == {here, there}
    ended = users.change_password(
        user, current=PASSWORD, new=NEW, keep_session_id=here, address=None
    )
    assert ended == 1 and live(users, user) == {here}
    assert users.login(user.email, NEW, totp_code=None, address=None).user is not None


def test_change_password_without_one(users: UserService, account: AccountFixture) -> None:
    user = make_user(users, account, password=None)
    with pytest.raises(ValidationFailed, match="no password here"):
        users.change_password(user, current="x", new=NEW, keep_session_id="ses_x", address=None)


def test_revoke_other_sessions(users: UserService, account: AccountFixture) -> None:
    user, other = make_user(users, account), make_user(users, account)
    here, _there = start(users, user), start(users, user)
    theirs = start(users, other)
    actor = Actor(account.id, "live", user.id)
    assert users.revoke_sessions(actor, user.id, keep_session_id=here, acting_user_id=user.id) == 1
    assert live(users, user) == {here} and live(users, other) == {theirs}


def test_proves_identity(users: UserService, account: AccountFixture) -> None:
    user = make_user(users, account)
    actor = Actor(account.id, "live", user.id)
    assert users.proves_identity(user, PASSWORD)
    assert not users.proves_identity(user, "")
    assert not users.proves_identity(user, "123456")  # no 2FA: a code proves nothing
    _u, secret, _uri = users.start_totp(actor, user.id, acting_user_id=user.id)
    codes = users.confirm_totp(actor, user.id, pyotp.TOTP(secret).now(), acting_user_id=user.id)
    assert users.proves_identity(user, codes[0])
    assert not users.proves_identity(user, codes[0])  # spent
    assert users.proves_identity(user, PASSWORD)


def test_password_link_for_email(users: UserService, account: AccountFixture) -> None:
    user = make_user(users, account)
    found = users.password_link_for_email("  " + user.email.upper())
    assert found is not None and found[0].id == user.id
    assert users.link_user(found[1]) is not None
    again = users.password_link_for_email(user.email)
    assert again is not None and users.link_user(found[1]) is None  # the earlier one stops
    assert users.password_link_for_email("nobody@example.com") is None
    assert users.password_link_for_email("x" * 400) is None
    users.disable(Actor.operator(account.id), user.id)
    assert users.password_link_for_email(user.email) is None
