"""Review of #19: an admin-role user must not reach owner power through credentials it makes.

API keys and service accounts act for the account "as an owner would" (users' RANK rule). A
signed-in admin (an OAuth token of theirs) who could mint an `admin` service account or API
key would then demote, disable or delete the owners the RANK rule protects from them.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.tokens import Issuer

USERS = "/api/v2/users"


@pytest.fixture
def issuer(app: FastAPI) -> Issuer:
    runtime = app.state.runtime
    return Issuer(runtime.sessions, runtime.sealer)


def _owner(client: TestClient, account: AccountFixture) -> str:
    made = client.post(
        USERS,
        json={"email": f"o-{uuid.uuid4().hex[:8]}@example.com", "role": "owner"},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    user_id: str = made.json()["data"]["id"]
    return user_id


def _admin_user_token(issuer: Issuer, account: AccountFixture) -> str:
    rp = issuer.oauth_client(account.id)
    admin = issuer.user(account.id, role="admin")
    grant = issuer.grant(account.id, rp, admin)
    token, _ = issuer.mint(account.id, rp, user_id=admin, grant_id=grant)
    return token


def test_an_admin_user_cannot_demote_an_owner_directly(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    owner = _owner(client, account)
    token = _admin_user_token(issuer, account)
    resp = client.patch(f"{USERS}/{owner}", json={"role": "member"}, headers=bearer(token))
    assert resp.status_code == 403, resp.text


def test_an_admin_user_cannot_mint_an_admin_service_account(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token = _admin_user_token(issuer, account)
    made = client.post(
        "/api/v2/service-accounts",
        json={"name": "escalate", "scopes": ["admin"]},
        headers=bearer(token),
    )
    assert made.status_code == 403, made.text
    # Narrower ones stay possible.
    ok = client.post(
        "/api/v2/service-accounts",
        json={"name": "robot", "scopes": ["licenses:read"]},
        headers=bearer(token),
    )
    assert ok.status_code == 201, ok.text
    sa = ok.json()["data"]["client_id"]
    widened = client.patch(
        f"/api/v2/service-accounts/{sa}", json={"scopes": ["admin"]}, headers=bearer(token)
    )
    assert widened.status_code == 403, widened.text


def test_an_admin_user_cannot_mint_an_admin_oauth_client(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token = _admin_user_token(issuer, account)
    made = client.post(
        "/api/v2/oauth-clients",
        json={
            "name": "escalate",
            "grant_types": ["client_credentials"],
            "scopes": ["admin"],
        },
        headers=bearer(token),
    )
    assert made.status_code == 403, made.text


def test_an_admin_user_cannot_mint_an_admin_api_key(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    owner = _owner(client, account)
    token = _admin_user_token(issuer, account)
    made = client.post(
        "/api/v2/keys",
        json={"name": "escalate", "type": "live", "scopes": ["admin"]},
        headers=bearer(token),
    )
    if made.status_code == 201:
        key = made.json()["data"]["key"]
        demoted = client.patch(f"{USERS}/{owner}", json={"role": "member"}, headers=bearer(key))
        assert demoted.status_code == 403, demoted.text
    else:
        assert made.status_code == 403, made.text


def test_a_test_key_cannot_disable_a_live_owner(
    client: TestClient, account: AccountFixture
) -> None:
    first = _owner(client, account)
    _owner(client, account)  # not the last owner: only the mode is in question
    made = client.post(
        "/api/v2/keys",
        json={"name": "sandbox", "type": "test", "scopes": ["admin"]},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    test_key = made.json()["data"]["key"]
    resp = client.post(f"{USERS}/{first}/disable", headers=bearer(test_key))
    assert resp.status_code in (403, 404), resp.text


def _user_token(issuer: Issuer, account: AccountFixture, role: str) -> str:
    rp = issuer.oauth_client(account.id)
    user = issuer.user(account.id, role=role)
    grant = issuer.grant(account.id, rp, user)
    token, _ = issuer.mint(account.id, rp, user_id=user, grant_id=grant)
    return token


def test_an_admin_user_cannot_rotate_an_admin_credential_into_their_hands(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    """Rotation hands out the new secret: of an admin key or service account, that is a new
    admin credential, so it is owner-only like making one. An owner's token may."""
    keys = client.get("/api/v2/keys", headers=account.headers).json()["data"]["keys"]
    admin_key_id = next(k["id"] for k in keys if "admin" in k["scopes"])
    sa = client.post(
        "/api/v2/service-accounts",
        json={"name": "ops", "scopes": ["admin"]},
        headers=account.headers,
    )
    assert sa.status_code == 201, sa.text
    sa_id = sa.json()["data"]["client_id"]
    admin_token = _user_token(issuer, account, "admin")
    for url, body in (
        (f"/api/v2/keys/{admin_key_id}/rotate", {"grace_period": "1h"}),
        (f"/api/v2/service-accounts/{sa_id}/rotate-secret", {"grace_period": 3600}),
    ):
        refused = client.post(url, json=body, headers=bearer(admin_token))
        assert refused.status_code == 403, (url, refused.text)
    owner_token = _user_token(issuer, account, "owner")
    rotated = client.post(
        f"/api/v2/service-accounts/{sa_id}/rotate-secret",
        json={"grace_period": 3600},
        headers=bearer(owner_token),
    )
    assert rotated.status_code == 200, rotated.text
