"""Isolation cases of "Your sign-ins": a session id of another account's user."""

from __future__ import annotations

from fastapi import FastAPI

from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture
from tests.portal.matrix import Case
from tests.portal.support import create_user


def _their_session(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    _email, user_id = create_user(app, victim.id, "owner")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        user = users.get(user_id)
        assert user is not None
        row, _token = users.start_session(user, mfa=False, address="198.51.100.7", user_agent="x")
        return {"session_id": row.id}


CASES = [
    Case("POST", "/portal/settings/security/sessions/{session_id}/revoke", _their_session),
]
