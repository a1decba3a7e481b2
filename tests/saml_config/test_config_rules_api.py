"""Who may change the SAML connection (live `admin` keys; a test-mode key only reads), the
audit trail of every change, and what the sign-in side reads from the service
(`sso_required_for`, `effective_attributes`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import User
from quantumlock.identity.saml.service import SamlConfigService
from tests.conftest import AccountFixture, bearer
from tests.saml_config import material as m
from tests.saml_config.test_config_api import SAML, fields, put


def key(client: TestClient, account: AccountFixture, **body: Any) -> str:
    made = client.post("/api/v2/keys", json={"name": "k", **body}, headers=account.headers)
    assert made.status_code == 201, made.text
    secret: str = made.json()["data"]["key"]
    return secret


def test_a_test_mode_key_reads_but_cannot_change(
    client: TestClient, account: AccountFixture
) -> None:
    test_key = key(client, account, type="test", scopes=["admin"])
    made = client.put(SAML, json=fields(), headers=bearer(test_key))
    assert made.status_code == 403 and made.json()["code"] == "INSUFFICIENT_SCOPE"
    assert "live credentials" in made.json()["detail"]
    assert client.get(SAML, headers=account.headers).status_code == 404
    live = put(client, account.admin_key, fields())
    seen = client.get(SAML, headers=bearer(test_key))
    assert seen.status_code == 200 and seen.json()["data"] == live
    for method, body in (("PUT", fields()), ("PATCH", {"enabled": False}), ("DELETE", None)):
        answer = client.request(method, SAML, json=body, headers=bearer(test_key))
        assert answer.status_code == 403, (method, answer.text)
        assert answer.json()["code"] == "INSUFFICIENT_SCOPE"
    assert client.get(SAML, headers=account.headers).json()["data"] == live


def test_the_admin_scope_is_required(client: TestClient, account: AccountFixture) -> None:
    reader = key(client, account, scopes=["account:read", "licenses:write"])
    for method, body in (("GET", None), ("PUT", fields()), ("PATCH", {}), ("DELETE", None)):
        answer = client.request(method, SAML, json=body, headers=bearer(reader))
        assert answer.status_code == 403, (method, answer.text)
        assert answer.json()["code"] == "INSUFFICIENT_SCOPE"
    assert client.get(SAML).status_code == 401


def _trail(client: TestClient, account: AccountFixture) -> list[dict[str, Any]]:
    types = [("type", f"saml.config_{verb}") for verb in ("create", "update", "delete")]
    answer = client.get("/api/v2/audit", params=types, headers=account.headers)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]["events"]
    return events[::-1]  # oldest first


def test_every_change_is_audited_without_key_material(
    client: TestClient, account: AccountFixture
) -> None:
    first, second = m.rsa_cert("first"), m.ec_cert("p256")
    made = put(client, account.admin_key, fields(idp_certificates=[m.pem(first)]))
    client.patch(SAML, json={"sso_required": True}, headers=account.headers)
    client.patch(
        SAML, json={"idp_certificates": [m.pem(first), m.bare(second)]}, headers=account.headers
    )
    put(client, account.admin_key, fields(), status=200)
    client.delete(SAML, headers=account.headers)
    events = _trail(client, account)
    assert [e["type"] for e in events] == [
        "saml.config_create",
        "saml.config_update",
        "saml.config_update",
        "saml.config_update",
        "saml.config_delete",
    ]
    assert all(e["object_id"] == made["id"] for e in events)
    assert all(e["object_type"] == "saml_connection" for e in events)
    assert all(e["actor_key_id"].startswith("key_") for e in events)
    assert all(e["address"] == "testclient" and e["mode"] == "live" for e in events)
    create, required, rolled, replaced, deleted = (e["detail"] for e in events)
    assert create["certificates"] == [m.fingerprint(first)]
    assert "idp_entity_id" in create["fields"] and "sso_required" in create["fields"]
    assert required == {"fields": ["sso_required"], "password_sessions_ended": 0}
    assert rolled == {
        "fields": ["idp_certificates"],
        "certificates": [m.fingerprint(first), m.fingerprint(second)],
    }
    # The replace went back to the defaults (sso_required off) and to one certificate.
    assert replaced["fields"] == ["idp_certificates", "sso_required"]
    assert deleted == {"idp_entity_id": m.IDP_ENTITY}
    text = str(events)
    assert "PRIVATE" not in text and "BEGIN CERTIFICATE" not in text


def test_what_the_sign_in_side_reads(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    put(client, account.admin_key, fields(preset="azure_ad", attributes={"name": "cn"}))
    runtime = app.state.runtime

    def user(role: str, account_id: str = account.id) -> User:
        return User(account_id=account_id, role=role)

    def required(u: User) -> bool:
        with runtime.unit_of_work() as session:
            return SamlConfigService(session, runtime.sealer).sso_required_for(u)

    assert not required(user("member"))  # sso_required is off
    client.patch(SAML, json={"sso_required": True}, headers=account.headers)
    assert required(user("member")) and required(user("admin")) and required(user("viewer"))
    assert not required(user("owner"))  # the break-glass path
    assert not required(user("member", "cust_other"))  # another account's connection
    client.patch(SAML, json={"enabled": False}, headers=account.headers)
    assert not required(user("member"))  # a disabled connection requires nothing

    with runtime.unit_of_work() as session:
        service = SamlConfigService(session, runtime.sealer)
        conn = service.get(account.id)
        assert conn is not None and service.get("cust_other") is None
        attrs = service.effective_attributes(conn)
    assert attrs.email == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    assert attrs.name == "cn"
    assert attrs.groups == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
    client.patch(SAML, json={"attributes": {"email": None}}, headers=account.headers)
    with runtime.unit_of_work() as session:
        service = SamlConfigService(session, runtime.sealer)
        conn = service.get(account.id)
        assert conn is not None
        assert service.effective_attributes(conn).email is None  # the NameID
