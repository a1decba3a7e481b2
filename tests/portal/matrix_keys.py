"""Isolation cases of the API-key pages: each route with a key id, asked for another
account's key, is the 404 page (and a POST changes nothing there)."""

from __future__ import annotations

from fastapi import FastAPI

from quantumlock.auth.domain import AuthDomain
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.scopes import Scope
from tests.conftest import AccountFixture
from tests.portal.matrix import Case

BASE = "/portal/settings/api-keys"


def _key(app: FastAPI, account: AccountFixture) -> dict[str, str]:
    auth: AuthDomain = app.state.auth
    with app.state.runtime.unit_of_work() as session:
        issued = auth.service(session).issue(
            account.id,
            name="Theirs",
            key_type=KeyType.RESTRICTED,
            mode=Mode.LIVE,
            scopes=frozenset({Scope.LICENSES_READ}),
            lifetime=None,
        )
        return {"key_id": issued.key.id}


CASES = [
    Case("GET", BASE + "/{key_id}", _key),
    Case("GET", BASE + "/{key_id}/rotate", _key),
    Case("POST", BASE + "/{key_id}/rotate", _key, {"grace_period": "0s"}),
    Case("GET", BASE + "/{key_id}/revoke", _key),
    Case("POST", BASE + "/{key_id}/revoke", _key),
]
