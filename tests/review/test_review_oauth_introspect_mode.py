"""Review of #19: introspection keeps the tenant rule's mode boundary (a test-mode client
learns nothing of a live token, as it would of another account's)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.oauth.support import make_service_account

CC = {"grant_type": "client_credentials"}


def test_a_test_mode_client_cannot_introspect_live_tokens(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    live = make_service_account(app, account.id, ["licenses:read"])
    test = make_service_account(app, account.id, ["licenses:read"], mode="test")
    access = client.post("/oauth/token", data=CC, headers=live.basic()).json()["access_token"]
    # The tenant rule: the other mode's objects are not there (like another account's).
    assert client.post(
        "/oauth/introspect", data={"token": access}, headers=test.basic()
    ).json() == {"active": False}
    assert (
        client.post("/oauth/introspect", data={"token": access}, headers=live.basic()).json()[
            "active"
        ]
        is True
    )
