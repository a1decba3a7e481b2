"""UserService rules on a real database: password floor and breached list, lock-out with
back-off (an injected clock), TOTP with pyotp (replay refused), recovery codes, RANK and the
last-owner rule, sessions (idle and absolute expiry), one-time links."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.errors import Conflict, InsufficientScope, NotFound, ValidationFailed
from quantumlock.identity.models import IdentityEvent
from quantumlock.identity.passwords import password_problem
from quantumlock.identity.users.service import UserService, lock_seconds
from tests.conftest import AccountFixture

PASSWORD = "Quiet-river-lamp-42"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with app.state.runtime.unit_of_work() as session:
        yield session


@pytest.fixture
def users(app: FastAPI, db: Session, clock: Clock) -> UserService:
    runtime = app.state.runtime
    return UserService(db, runtime.hasher, runtime.sealer, clock=clock)


def email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@example.com"


def actor(account: AccountFixture) -> Actor:
    return Actor(account.id, "live", "key_test")


# -- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1A!", "at least 12"),
        ("abcdefghijklmnop", "two kinds"),
        ("123456789012345", "two kinds"),
        ("password1234", "too common"),
        ("qwertyuiop123", "too common"),
        ("Ada.Lovelace-1815", "email"),
    ],
)
def test_password_floor(password: str, problem: str) -> None:
    found = password_problem(password, email="ada.lovelace@example.com")
    assert found is not None and problem in found


def test_a_good_password_passes() -> None:
    assert password_problem(PASSWORD, email="ada@example.com") is None


def test_create_refuses_weak_password_and_duplicate_email(
    users: UserService, account: AccountFixture
) -> None:
    with pytest.raises(ValidationFailed, match="common"):
        users.create(actor(account), email=email(), role="member", password="password1234")
    address = email()
    users.create(actor(account), email=address, role="member", password=PASSWORD)
    with pytest.raises(Conflict):
        users.create(actor(account), email="  " + address.upper(), role="viewer")


# -- lock-out ---------------------------------------------------------------------------------


def test_lock_seconds_back_off() -> None:
    assert [lock_seconds(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [lock_seconds(n) for n in (5, 6, 7, 10, 11, 30)] == [60, 120, 240, 1920, 3600, 3600]


def test_lock_out_doubles_and_success_resets(
    users: UserService, account: AccountFixture, clock: Clock
) -> None:
    address = email()
    users.create(actor(account), email=address, role="member", password=PASSWORD)
    for _ in range(4):
        assert users.login(address, "wrong", totp_code=None, address="1.2.3.4").refused == (
            "invalid_credentials"
        )
    fifth = users.login(address, "wrong", totp_code=None, address="1.2.3.4")
    assert (fifth.refused, fifth.retry_after) == ("locked", 60)
    # Locked: even the right password is refused, and the wait counts down.
    clock.advance(20)
    during = users.login(address, PASSWORD, totp_code=None, address=None)
    assert (during.refused, during.retry_after) == ("locked", 40)
    clock.advance(41)
    sixth = users.login(address, "wrong", totp_code=None, address=None)
    assert (sixth.refused, sixth.retry_after) == ("locked", 120)
    clock.advance(121)
    ok = users.login(address, PASSWORD, totp_code=None, address=None)
    assert ok.user is not None and ok.refused is None
    assert ok.user.failed_logins == 0 and ok.user.locked_until is None
    assert users.login(address, "wrong", totp_code=None, address=None).refused == (
        "invalid_credentials"
    )


def test_unknown_email_and_disabled_user(users: UserService, account: AccountFixture) -> None:
    assert users.login(email(), PASSWORD, totp_code=None, address=None).refused == (
        "invalid_credentials"
    )
    address = email()
    made = users.create(actor(account), email=address, role="member", password=PASSWORD)
    users.disable(actor(account), made.user.id)
    assert users.login(address, PASSWORD, totp_code=None, address=None).refused == "disabled"


def test_login_events_carry_actor_and_address(
    users: UserService, account: AccountFixture, db: Session
) -> None:
    address = email()
    made = users.create(actor(account), email=address, role="member", password=PASSWORD)
    users.login(address, "wrong", totp_code=None, address="10.0.0.7")
    users.login(address, PASSWORD, totp_code=None, address="10.0.0.8")
    events = db.query(IdentityEvent).filter(IdentityEvent.object_id == made.user.id).all()
    seen = {(e.action, e.actor_id, e.address) for e in events}
    assert ("user.create", "key_test", None) in seen
    assert ("user.login_failed", made.user.id, "10.0.0.7") in seen
    assert ("user.login", made.user.id, "10.0.0.8") in seen
    assert not any(PASSWORD in str(e.detail) for e in events)


# -- TOTP -------------------------------------------------------------------------------------


def test_totp_enrol_confirm_login_replay_and_recovery(
    users: UserService, account: AccountFixture, clock: Clock
) -> None:
    address = email()
    user = users.create(actor(account), email=address, role="member", password=PASSWORD).user
    _, secret, uri = users.start_totp(actor(account), user.id)
    assert uri.startswith("otpauth://totp/") and user.sealed_totp_secret is not None
    assert secret.encode() not in user.sealed_totp_secret
    totp = pyotp.TOTP(secret)
    with pytest.raises(ValidationFailed):
        users.confirm_totp(
            actor(account), user.id, "000000" if totp.at(clock()) != "000000" else "1"
        )
    codes = users.confirm_totp(actor(account), user.id, totp.at(clock()))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert users.login(address, PASSWORD, totp_code=None, address=None).refused == "totp_required"
    clock.advance(30)
    code = totp.at(clock())
    assert users.login(address, PASSWORD, totp_code=code, address=None).user is not None
    # The same code again, within its window: refused.
    assert users.login(address, PASSWORD, totp_code=code, address=None).refused == "totp_invalid"
    # A recovery code works once.
    assert users.login(address, PASSWORD, totp_code=codes[0].upper(), address=None).user
    assert users.login(address, PASSWORD, totp_code=codes[0], address=None).refused == (
        "totp_invalid"
    )
    users.disable_totp(actor(account), user.id)
    assert users.login(address, PASSWORD, totp_code=None, address=None).user is not None


# -- RANK and the last owner ----------------------------------------------------------------


def test_rank_rules_and_last_owner(users: UserService, account: AccountFixture) -> None:
    a = actor(account)
    owner = users.create(a, email=email(), role="owner", password=PASSWORD).user
    admin = users.create(a, email=email(), role="admin", password=PASSWORD).user
    member = users.create(a, email=email(), role="member", password=PASSWORD).user
    # An admin cannot make an owner, promote to owner, or touch an owner.
    with pytest.raises(InsufficientScope):
        users.create(a, email=email(), role="owner", acting_user_id=admin.id)
    with pytest.raises(InsufficientScope):
        users.update(a, member.id, role="owner", acting_user_id=admin.id)
    with pytest.raises(InsufficientScope):
        users.disable(a, owner.id, acting_user_id=admin.id)
    with pytest.raises(InsufficientScope):
        users.delete(a, owner.id, acting_user_id=admin.id)
    assert users.update(a, member.id, role="viewer", acting_user_id=admin.id).role == "viewer"
    # The last active owner stays one.
    with pytest.raises(Conflict):
        users.update(a, owner.id, role="admin")
    with pytest.raises(Conflict):
        users.disable(a, owner.id)
    with pytest.raises(Conflict):
        users.delete(a, owner.id)
    second = users.create(a, email=email(), role="owner", password=PASSWORD).user
    assert users.update(a, owner.id, role="admin", acting_user_id=second.id).role == "admin"


def test_another_accounts_user_is_not_found(
    users: UserService, account: AccountFixture, make_account: object
) -> None:
    other = make_account()  # type: ignore[operator]
    user = users.create(actor(account), email=email(), role="member", password=PASSWORD).user
    for call in (
        lambda: users.get_in_account(actor(other), user.id),
        lambda: users.disable(actor(other), user.id),
        lambda: users.delete(actor(other), user.id),
        lambda: users.sessions(actor(other), user.id),
    ):
        with pytest.raises(NotFound):
            call()


# -- sessions and links -----------------------------------------------------------------------


def test_session_idle_and_absolute_expiry(
    users: UserService, account: AccountFixture, clock: Clock
) -> None:
    user = users.create(actor(account), email=email(), role="member", password=PASSWORD).user
    row, token = users.start_session(user, mfa=False, address="1.1.1.1", user_agent="t")
    assert row.token_hash != token.encode() and users.session_for(token) is not None
    assert users.session_for(token + "x") is None
    clock.advance(11 * 3600)
    assert users.session_for(token) is not None  # and last_seen moves on
    clock.advance(11 * 3600)
    assert users.session_for(token) is not None
    clock.advance(12 * 3600 + 1)
    assert users.session_for(token) is None  # idle
    _, again = users.start_session(user, mfa=False, address=None, user_agent=None)
    for _ in range(16):
        clock.advance(11 * 3600)
        users.session_for(again)
    assert users.session_for(again) is None  # 7 days absolute


def test_revoking_sessions(users: UserService, account: AccountFixture) -> None:
    user = users.create(actor(account), email=email(), role="member", password=PASSWORD).user
    one, token1 = users.start_session(user, mfa=False, address=None, user_agent=None)
    _, token2 = users.start_session(user, mfa=False, address=None, user_agent=None)
    assert len(users.sessions(actor(account), user.id)) == 2
    users.revoke_session(actor(account), user.id, one.id)
    assert users.session_for(token1) is None and users.session_for(token2) is not None
    assert users.revoke_sessions(actor(account), user.id) == 1
    assert users.session_for(token2) is None


def test_links_are_single_use_and_expire(
    users: UserService, account: AccountFixture, clock: Clock
) -> None:
    made = users.create(actor(account), email=email(), role="member")
    token = made.link_token
    assert token and made.user.password_hash is None
    assert users.link_user(token) is not None
    with pytest.raises(ValidationFailed):
        users.set_password_with_link(token, "tooshort", address=None)
    users.set_password_with_link(token, PASSWORD, address=None)
    assert users.link_user(token) is None
    with pytest.raises(NotFound):
        users.set_password_with_link(token, PASSWORD, address=None)
    _, reset, _ = users.password_link(actor(account), made.user.id)
    _, newer, _ = users.password_link(actor(account), made.user.id)
    assert users.link_user(reset) is None  # superseded
    clock.advance(24 * 3600 + 1)
    assert users.link_user(newer) is None  # expired
