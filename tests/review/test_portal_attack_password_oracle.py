"""A stolen portal session must not become a password-guessing oracle: a wrong current
password on "change password", or a wrong proof on "turn two-factor off", counts towards
the user's sign-in lock-out like a wrong password at the sign-in, and a locked user's
guesses are refused without being checked (else the per-minute limit alone allows
thousands of guesses a day, without the lock-out the sign-in has)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import User
from quantumlock.identity.users.service import LOCK_AFTER
from tests.conftest import AccountFixture
from tests.portal.support import PASSWORD, portal_user

PAGE = "/portal/settings/security"
NEW = "Amber-Kettle-Orbit-77"


def _user(app: FastAPI, user_id: str) -> User:
    with app.state.runtime.unit_of_work() as session:
        user: User | None = session.get(User, user_id)
        assert user is not None
        session.expunge(user)
        return user


def test_wrong_current_passwords_lock_the_user_out(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    thief = portal_user(app, account, "member")
    for attempt in range(LOCK_AFTER):
        answer = thief.post(
            PAGE + "/password",
            {"current_password": f"guess-{attempt}", "password": NEW, "confirm": NEW},
        )
        assert answer.status_code in (400, 429)
    user = _user(app, thief.user_id)
    assert user.failed_logins >= LOCK_AFTER
    assert user.locked_until is not None
    # Locked: even the right password is not checked now.
    answer = thief.post(
        PAGE + "/password", {"current_password": PASSWORD, "password": NEW, "confirm": NEW}
    )
    assert answer.status_code == 429, answer.text[:300]
    assert _user(app, thief.user_id).password_hash == user.password_hash


def test_wrong_proofs_to_turn_two_factor_off_count_too(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    thief = portal_user(app, account, "member")
    for attempt in range(LOCK_AFTER):
        answer = thief.post(PAGE + "/totp/disable", {"proof": f"guess-{attempt}"})
        assert answer.status_code in (400, 429)
    assert _user(app, thief.user_id).locked_until is not None
    answer = thief.post(PAGE + "/totp/disable", {"proof": PASSWORD})
    assert answer.status_code == 429, answer.text[:300]
