"""Review of #20 (configuration): an admin user must not reach the owners' power through the
account's SAML connection.

A user's token below owner has `grants_admin == False`: it may not hand out admin-level
credentials, because those act for the account as an owner would. The SAML connection is such a
credential too: whoever chooses the IdP (its certificates, or which attribute carries the email)
can have a session as ANY user of the account, owners included. So changing it needs the same
owner-level principal; an admin user may read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.saml.idp import KeyPair, TestIdp, User, make_key_pair, xmlsec1_available
from tests.saml.support import SSO, SamlFlow, data_of, session_cookie, unique_email
from tests.tokens import Issuer

pytestmark = pytest.mark.skipif(not xmlsec1_available(), reason="needs /usr/bin/xmlsec1")


@pytest.fixture
def issuer(app: FastAPI) -> Issuer:
    runtime = app.state.runtime
    return Issuer(runtime.sessions, runtime.sealer)


@pytest.fixture(scope="module")
def attacker_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("attacker-keys"), "Attacker IdP")


def _user_token(issuer: Issuer, account: AccountFixture, role: str) -> str:
    rp = issuer.oauth_client(account.id)
    user = issuer.user(account.id, role=role)
    grant = issuer.grant(account.id, rp, user)
    token, _ = issuer.mint(account.id, rp, user_id=user, grant_id=grant)
    return token


def _owner(client: TestClient, account: AccountFixture) -> dict[str, Any]:
    made = client.post(
        "/api/v2/users",
        json={"email": unique_email("owner"), "role": "owner"},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    owner: dict[str, Any] = data_of(made)
    return owner


def _session_user(client: TestClient, account: AccountFixture, cookie: str) -> str | None:
    """Whose session the cookie is (through the API key's view of the users' sessions)."""
    users = data_of(client.get("/api/v2/users?limit=100", headers=account.headers))["users"]
    for user in users:
        got = client.get(f"/api/v2/users/{user['id']}/sessions", headers=account.headers)
        if data_of(got)["sessions"]:
            return str(user["email"])
    return None


def test_an_admin_user_cannot_point_sso_at_their_own_idp_and_sign_in_as_the_owner(
    client: TestClient,
    account: AccountFixture,
    issuer: Issuer,
    tmp_path: Path,
    attacker_keys: KeyPair,
) -> None:
    owner = _owner(client, account)
    admin_token = _user_token(issuer, account, "admin")
    evil = TestIdp(tmp_path / "evil", keys=attacker_keys, entity_id="https://evil.test/idp")
    flow = SamlFlow(client, evil, account.id, admin_token)

    answer = client.put(SSO, json={"idp_metadata_xml": evil.metadata_xml()}, headers=flow.headers)
    if answer.status_code in (200, 201):
        # The attack, to show what the refusal prevents: the admin's IdP asserts the owner.
        flow.connection = data_of(answer)
        flow.trust_sp()
        client.cookies.clear()
        seen = flow.begin()
        signed = flow.post(evil.answer(seen, User(owner["email"])))
        cookie = session_cookie(signed)
        who = _session_user(client, account, cookie) if cookie else None
        pytest.fail(f"an admin user configured SSO ({answer.status_code}); signed in as {who}")
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "INSUFFICIENT_SCOPE"
    assert client.get(SSO, headers=account.headers).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"attributes": {"email": "displayName"}}, id="email-attribute"),
        pytest.param({"preset": "okta"}, id="preset"),
        pytest.param({"group_roles": {"everyone": "admin"}}, id="group-to-admin"),
        pytest.param({"default_role": "admin"}, id="default-admin"),
        pytest.param({"idp_entity_id": "https://evil.test/idp"}, id="entity-id"),
        pytest.param({"idp_sso_url": "https://evil.test/sso"}, id="sso-url"),
        pytest.param({"sso_required": False}, id="sso-required-off"),
        pytest.param({"enabled": True}, id="enabled"),
        pytest.param({"allow_idp_initiated": True}, id="idp-initiated"),
        pytest.param({"jit_provisioning": True}, id="jit"),
        pytest.param({"clock_skew_seconds": 300}, id="skew"),
    ],
)
def test_an_admin_user_cannot_change_the_connection(
    client: TestClient,
    account: AccountFixture,
    issuer: Issuer,
    tmp_path: Path,
    attacker_keys: KeyPair,
    change: dict[str, Any],
) -> None:
    trusted = TestIdp(tmp_path / "idp", keys=attacker_keys)
    made = client.put(
        SSO,
        json={"idp_metadata_xml": trusted.metadata_xml(), "sso_required": True},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    before = data_of(made)
    admin = bearer(_user_token(issuer, account, "admin"))

    assert client.get(SSO, headers=admin).status_code == 200  # reading stays allowed
    patched = client.patch(SSO, json=change, headers=admin)
    assert patched.status_code == 403, patched.text
    evil_cert = attacker_keys.cert_pem
    replaced = client.put(
        SSO,
        json={
            "idp_entity_id": "https://evil.test/idp",
            "idp_sso_url": "https://evil.test/sso",
            "idp_certificates": [evil_cert],
        },
        headers=admin,
    )
    assert replaced.status_code == 403, replaced.text
    assert client.delete(SSO, headers=admin).status_code == 403
    after = data_of(client.get(SSO, headers=account.headers))
    assert after["updated_at"] == before["updated_at"]
    assert not [
        e
        for e in data_of(
            client.get("/api/v2/audit?type=saml.config_update", headers=account.headers)
        )["events"]
    ]


def test_an_owner_user_and_an_admin_key_still_configure(
    client: TestClient,
    account: AccountFixture,
    issuer: Issuer,
    tmp_path: Path,
    attacker_keys: KeyPair,
) -> None:
    idp = TestIdp(tmp_path / "idp", keys=attacker_keys)
    owner = bearer(_user_token(issuer, account, "owner"))
    made = client.put(SSO, json={"idp_metadata_xml": idp.metadata_xml()}, headers=owner)
    assert made.status_code == 201, made.text
    assert client.patch(SSO, json={"clock_skew_seconds": 30}, headers=owner).status_code == 200
    patched = client.patch(SSO, json={"default_role": "admin"}, headers=account.headers)
    assert patched.status_code == 200, patched.text
    assert client.delete(SSO, headers=owner).status_code == 204
