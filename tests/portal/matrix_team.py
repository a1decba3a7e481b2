"""Isolation cases of the team pages: members, service accounts, OAuth clients."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.portal.matrix import Case
from tests.portal.support import create_user

MEMBERS = "/portal/account/members/{user_id}"
ACCOUNTS = "/portal/account/service-accounts/{client_id}"
CLIENTS = "/portal/account/oauth-clients/{client_id}"


def a_member(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    return {"user_id": create_user(app, victim.id, "member")[1]}


def _made(app: FastAPI, victim: AccountFixture, path: str, body: Mapping[str, object]) -> str:
    api = TestClient(app, raise_server_exceptions=False)
    answer = api.post(path, json=body, headers=bearer(victim.admin_key))
    assert answer.status_code == 201, answer.text
    client_id: str = answer.json()["data"]["client_id"]
    return client_id


def a_service_account(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    body = {"name": "theirs", "scopes": ["licenses:read"]}
    return {"client_id": _made(app, victim, "/api/v2/service-accounts", body)}


def an_oauth_client(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    body = {"name": "theirs", "redirect_uris": ["https://app.example/cb"]}
    return {"client_id": _made(app, victim, "/api/v2/oauth-clients", body)}


SA_FORM = {"name": "mine now", "scopes": "licenses:read"}
OC_FORM = {
    "name": "mine now",
    "redirect_uris": "https://evil.example/cb",
    "grant_types": "authorization_code",
    "scopes": "openid",
}

CASES = [
    Case("GET", MEMBERS, a_member),
    Case("POST", MEMBERS + "/role", a_member, {"role": "viewer"}),
    Case("POST", MEMBERS + "/disable", a_member),
    Case("POST", MEMBERS + "/enable", a_member),
    Case("POST", MEMBERS + "/password-link", a_member),
    Case("GET", MEMBERS + "/remove", a_member),
    Case("POST", MEMBERS + "/remove", a_member),
    Case("GET", ACCOUNTS, a_service_account),
    Case("POST", ACCOUNTS + "/edit", a_service_account, SA_FORM),
    Case("POST", ACCOUNTS + "/rotate", a_service_account, {"grace_period": "0"}),
    Case("POST", ACCOUNTS + "/disable", a_service_account),
    Case("POST", ACCOUNTS + "/enable", a_service_account),
    Case("GET", ACCOUNTS + "/delete", a_service_account),
    Case("POST", ACCOUNTS + "/delete", a_service_account),
    Case("GET", CLIENTS, an_oauth_client),
    Case("POST", CLIENTS + "/edit", an_oauth_client, OC_FORM),
    Case("POST", CLIENTS + "/rotate", an_oauth_client, {"grace_period": "0"}),
    Case("POST", CLIENTS + "/disable", an_oauth_client),
    Case("POST", CLIENTS + "/enable", an_oauth_client),
    Case("GET", CLIENTS + "/delete", an_oauth_client),
    Case("POST", CLIENTS + "/delete", an_oauth_client),
]
