"""Review: role escalation through the portal. An admin (not an owner) must not get owner
power; a demoted or disabled user's open session must lose its powers at once."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import User
from tests.conftest import AccountFixture
from tests.portal.support import portal_user

KEYS = "/portal/settings/api-keys"


def _api_admin_key(client: TestClient, account: AccountFixture) -> str:
    made = client.post(
        "/api/v2/keys",
        json={"name": "owner's admin", "scopes": ["admin"], "type": "live"},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    key_id: str = made.json()["data"]["id"]
    return key_id


def test_an_admin_gets_no_owner_power_through_the_portal(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    admin = portal_user(app, account, "admin")
    key = admin.post(
        KEYS + "/new",
        {"name": "x", "type": "live", "scopes": ["admin"], "expires": "never"},
    )
    assert key.status_code == 403, key.text[:300]
    assert (
        admin.post(
            "/portal/account/service-accounts/new", {"name": "x", "scopes": ["admin"]}
        ).status_code
        == 403
    )
    owners_key = _api_admin_key(client, account)
    assert admin.post(f"{KEYS}/{owners_key}/rotate", {"grace_period": "0s"}).status_code == 403
    invite = admin.post(
        "/portal/account/members/invite",
        {"email": "boss@example.com", "name": "Boss", "role": "owner"},
    )
    assert invite.status_code in (400, 403), invite.text[:300]
    member = portal_user(app, account, "member")
    promote = admin.post(f"/portal/account/members/{member.user_id}/role", {"role": "owner"})
    assert promote.status_code in (400, 403), promote.text[:300]


def test_a_demoted_or_disabled_users_open_session_loses_its_powers_at_once(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    admin = portal_user(app, account, "admin")
    token = admin.csrf()
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        user = session.get(User, admin.user_id)
        assert user is not None
        user.role = "viewer"
    form = {
        "csrf_token": token,
        "name": "after demotion",
        "type": "restricted",
        "scopes": ["licenses:read"],
        "expires": "never",
    }
    made = admin.client.post(KEYS + "/new", data=form, follow_redirects=False)
    assert made.status_code == 403
    with runtime.unit_of_work() as session:
        user = session.get(User, admin.user_id)
        assert user is not None
        user.status = "disabled"
    assert admin.client.get(KEYS, follow_redirects=False).status_code == 303
