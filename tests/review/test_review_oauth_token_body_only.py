"""Review of #19: the token endpoint takes its parameters from the body only (RFC 6749
§3.2, §4.1.3, §6). URL parameters were merged into what the grants read, ahead of the body
(and past the repeated-parameter check): `?scope=` overrode the body's scope. Codes and
refresh tokens in the URL were already ignored (Authlib reads those from the body): kept
here so that stays true."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.oauth.flow import get_code, pkce
from tests.oauth.support import REDIRECT, make_client, make_service_account, make_user

TOKEN = "/oauth/token"


def test_refresh_token_and_code_in_the_url_are_not_read(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id)
    _user_id, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    code = get_code(client, rp, email, password, challenge)["code"]
    in_url = client.post(
        f"{TOKEN}?code={code}&redirect_uri={REDIRECT}&code_verifier={verifier}",
        data={"grant_type": "authorization_code"},
        headers=rp.basic(),
    )
    assert in_url.status_code == 400 and in_url.json()["error"] == "invalid_request", in_url.text
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    tokens = client.post(TOKEN, data=body, headers=rp.basic())
    assert tokens.status_code == 200, tokens.text
    refresh = tokens.json()["refresh_token"]
    r = client.post(f"{TOKEN}?refresh_token={refresh}", data={"grant_type": "refresh_token"},
                    headers=rp.basic())  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh},
                    headers=rp.basic())  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_url_parameter_does_not_override_the_body(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    robot = make_service_account(app, account.id, ["licenses:read", "account:read"])
    r = client.post(f"{TOKEN}?scope=account:read",
                    data={"grant_type": "client_credentials", "scope": "licenses:read"},
                    headers=robot.basic())  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "licenses:read"
