"""Review of #20: the SAML connection decides who can sign in as ANY user of the account,
owners included (an existing user is found by the email the IdP asserts). A signed-in
admin-role user (an OAuth token of theirs) who could point the connection at an IdP of
their own would sign in as the owner: the RANK rule ("only an owner can change an owner")
bypassed. Changing the connection is an owner's power (API keys act as an owner would)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.saml_protocol.kit import key_pair
from tests.tokens import Issuer

SSO = "/api/v2/sso/saml"
FIELDS = {
    "idp_entity_id": "https://evil.test/idp",
    "idp_sso_url": "https://evil.test/sso",
}


@pytest.fixture
def issuer(app: FastAPI) -> Issuer:
    runtime = app.state.runtime
    return Issuer(runtime.sessions, runtime.sealer)


def _user_token(issuer: Issuer, account: AccountFixture, role: str) -> str:
    rp = issuer.oauth_client(account.id)
    user = issuer.user(account.id, role=role)
    grant = issuer.grant(account.id, rp, user)
    token, _ = issuer.mint(account.id, rp, user_id=user, grant_id=grant)
    return token


def _certificate() -> str:
    return key_pair("Someone's own IdP").cert_pem


def test_an_admin_user_cannot_point_sso_at_their_own_idp(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    body = {**FIELDS, "idp_certificates": [_certificate()]}
    admin = bearer(_user_token(issuer, account, "admin"))
    made = client.put(SSO, json=body, headers=admin)
    assert made.status_code == 403, made.text
    # With a connection in place (made by an API key, as an owner would), neither a change
    # nor a removal by the admin user.
    assert client.put(SSO, json=body, headers=account.headers).status_code == 201
    assert (
        client.patch(SSO, json={"idp_sso_url": "https://evil.test/2"}, headers=admin).status_code
        == 403
    )
    assert client.delete(SSO, headers=admin).status_code == 403
    assert client.get(SSO, headers=admin).status_code == 200  # reading stays an admin's


def test_an_owner_user_can(client: TestClient, account: AccountFixture, issuer: Issuer) -> None:
    body = {**FIELDS, "idp_certificates": [_certificate()]}
    owner = bearer(_user_token(issuer, account, "owner"))
    assert client.put(SSO, json=body, headers=owner).status_code == 201
