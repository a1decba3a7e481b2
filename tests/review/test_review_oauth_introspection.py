"""Review of #19: introspection and userinfo must not call a token live that the API itself
refuses (disabled user, disabled client or service account)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import OAuthClient, ServiceAccount, User
from tests.conftest import AccountFixture
from tests.oauth.flow import get_code, pkce
from tests.oauth.support import REDIRECT, Registered, make_client, make_service_account, make_user

TOKEN = "/oauth/token"
CC = {"grant_type": "client_credentials"}


def _status(app: FastAPI, model: Any, row_id: str, status: str) -> None:
    with app.state.runtime.unit_of_work() as session:
        session.get(model, row_id).status = status


def _introspect(client: TestClient, who: Registered, token: str) -> dict[str, Any]:
    r = client.post("/oauth/introspect", data={"token": token}, headers=who.basic())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _user_tokens(client: TestClient, app: FastAPI, account: AccountFixture) -> tuple[
    Registered, str, dict[str, Any]
]:  # fmt: skip
    rp = make_client(app, account.id)
    user_id, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    got = get_code(client, rp, email, password, challenge)
    r = client.post(TOKEN, data={"grant_type": "authorization_code", "code": got["code"],
                                 "redirect_uri": REDIRECT, "code_verifier": verifier},
                    headers=rp.basic())  # fmt: skip
    assert r.status_code == 200, r.text
    return rp, user_id, r.json()


def test_introspection_calls_a_disabled_users_tokens_inactive(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp, user_id, tokens = _user_tokens(client, app, account)
    assert _introspect(client, rp, tokens["access_token"])["active"] is True
    assert _introspect(client, rp, tokens["refresh_token"])["active"] is True
    _status(app, User, user_id, "disabled")
    # The API refuses the token now; a resource server asking us must hear the same.
    me = client.get("/api/v2/me", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert me.status_code == 401
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert _introspect(client, rp, tokens["refresh_token"]) == {"active": False}


def test_introspection_and_userinfo_refuse_a_disabled_clients_tokens(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp, _user_id, tokens = _user_tokens(client, app, account)
    resource_server = make_service_account(app, account.id, ["licenses:read"])
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    _status(app, OAuthClient, rp.id, "disabled")
    assert client.get("/api/v2/me", headers=bearer).status_code == 401
    r = client.get("/oauth/userinfo", headers=bearer)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text
    assert _introspect(client, resource_server, tokens["access_token"]) == {"active": False}
    assert _introspect(client, resource_server, tokens["refresh_token"]) == {"active": False}


def test_introspection_calls_a_disabled_service_accounts_token_inactive(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    robot = make_service_account(app, account.id, ["licenses:read"])
    watcher = make_service_account(app, account.id, ["licenses:read"])
    access = client.post(TOKEN, data=CC, headers=robot.basic()).json()["access_token"]
    assert _introspect(client, watcher, access)["active"] is True
    _status(app, ServiceAccount, robot.id, "disabled")
    assert (
        client.get("/api/v2/me", headers={"Authorization": "Bearer " + access}).status_code == 401
    )
    assert _introspect(client, watcher, access) == {"active": False}
