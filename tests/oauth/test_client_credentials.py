"""client_credentials: service accounts (exactly their scopes, narrower allowed, wider
invalid_scope) and OAuth clients with the grant type; form, JSON and HTTP Basic."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from quantumlock.identity.tokens import decode_access_token
from tests.conftest import AccountFixture
from tests.oauth.support import make_client, make_service_account


def _keys(client: TestClient) -> KeySet:
    return KeySet.import_key_set(client.get("/oauth/jwks").json())


def test_service_account_token_by_json_body_carries_exactly_its_scopes(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    sa = make_service_account(app, account.id, ["licenses:read", "account:read"])
    r = client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": sa.id, "client_secret": sa.secret},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "licenses:read account:read"
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    claims = decode_access_token(body["access_token"], _keys(client))
    assert claims.client_id == sa.id and claims.subject == sa.id
    assert claims.account_id == account.id and claims.mode == "live"
    assert jwt.decode(body["access_token"], _keys(client)).header["alg"] == "ES256"


def test_service_account_by_basic_and_form_narrower_scope(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    sa = make_service_account(app, account.id, ["licenses:write"])
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "licenses:read"},
        headers=sa.basic(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "licenses:read"  # implied by licenses:write
    wider = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        headers=sa.basic(),
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_oauth_client_with_client_credentials_gets_its_api_scopes(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id, grant_types=["client_credentials"], scopes=["account:read"])
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=rp.basic())
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "account:read"
