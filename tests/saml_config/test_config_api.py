"""/api/v2/sso/saml through the API: create / replace / patch / delete, validation (every
refusal a 400 naming the field, never a 500), metadata parsing and its refusals (size, DTD,
XXE, billion laughs, two IdPs, no HTTP-Redirect service), test-mode refusal, role rules, the
SP key pair kept across changes, and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.saml_config import material as m

SAML = "/api/v2/sso/saml"


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "idp_entity_id": m.IDP_ENTITY,
        "idp_sso_url": m.SSO_URL,
        "idp_certificates": [m.pem(m.rsa_cert())],
        **extra,
    }


def put(client: TestClient, key: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    answer = client.put(SAML, json=body, headers=bearer(key))
    assert answer.status_code == status, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def refused(client: TestClient, key: str, body: dict[str, Any], method: str = "PUT") -> str:
    """The 400's field, after checking the documented error body."""
    answer = client.request(method, SAML, json=body, headers=bearer(key))
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["code"] == "VALIDATION_ERROR" and error["request_id"] and error["timestamp"]
    assert error["errors"], error
    loc: list[str] = error["errors"][0]["loc"]
    return ".".join(str(part) for part in loc[1:])


def test_create_get_replace_delete(client: TestClient, account: AccountFixture) -> None:
    assert client.get(SAML, headers=account.headers).status_code == 404
    made = put(client, account.admin_key, fields(preset="okta"))
    assert made["id"].startswith("saml_") and made["account_id"] == account.id
    assert made["preset"] == "okta" and made["enabled"] is True
    assert made["attributes"] == {"email": "email", "name": "displayName", "groups": "groups"}
    assert made["jit_provisioning"] is True and made["default_role"] == "member"
    assert made["group_roles"] == {} and made["allow_idp_initiated"] is False
    assert made["sso_required"] is False and made["clock_skew_seconds"] == 60
    idp = made["idp"]
    assert idp["entity_id"] == m.IDP_ENTITY and idp["sso_url"] == m.SSO_URL
    assert idp["slo_url"] is None
    [cert] = idp["certificates"]
    assert cert["fingerprint_sha256"] == m.fingerprint(m.rsa_cert())
    assert cert["subject"] == "CN=IdP signing" and cert["pem"] == m.pem(m.rsa_cert())
    sp = made["sp"]
    root = f"http://testserver/saml/{account.id}"
    assert sp["entity_id"] == sp["metadata_url"] == root + "/metadata"
    assert (sp["acs_url"], sp["login_url"]) == (root + "/acs", root + "/login")
    assert (sp["logout_url"], sp["slo_url"]) == (root + "/logout", root + "/slo")
    assert sp["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE" not in str(made)

    got = client.get(SAML, headers=account.headers).json()["data"]
    assert got == made

    # Replacing starts from the defaults but keeps the id and the SP key pair.
    replaced = put(client, account.admin_key, fields(default_role="viewer"), status=200)
    assert replaced["id"] == made["id"] and replaced["sp"] == made["sp"]
    assert replaced["preset"] == "custom" and replaced["default_role"] == "viewer"
    assert replaced["attributes"] == {"email": "email", "name": "name", "groups": "groups"}

    assert client.delete(SAML, headers=account.headers).status_code == 204
    assert client.get(SAML, headers=account.headers).status_code == 404
    gone = client.delete(SAML, headers=account.headers)
    assert gone.status_code == 404 and gone.json()["code"] == "NOT_FOUND"
    again = put(client, account.admin_key, fields())
    assert again["id"] != made["id"] and again["sp"]["certificate"] != sp["certificate"]


def test_patch_changes_only_what_it_names(client: TestClient, account: AccountFixture) -> None:
    missing = client.patch(SAML, json={"enabled": False}, headers=account.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    made = put(client, account.admin_key, fields(preset="azure_ad", idp_slo_url=m.SLO_URL))
    changed = client.patch(
        SAML,
        json={
            "sso_required": True,
            "group_roles": {"Engineering": "admin", "Staff": "viewer"},
            "attributes": {"email": None, "groups": "memberOf"},
            "clock_skew_seconds": 0,
            "enabled": None,  # null: stays
        },
        headers=account.headers,
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["sso_required"] is True and data["enabled"] is True
    assert data["group_roles"] == {"Engineering": "admin", "Staff": "viewer"}
    assert data["clock_skew_seconds"] == 0
    assert data["attributes"] == {
        "email": None,  # the NameID is the email
        "name": "http://schemas.microsoft.com/identity/claims/displayname",
        "groups": "memberOf",
    }
    assert data["idp"] == made["idp"] and data["sp"] == made["sp"]
    assert data["updated_at"] >= made["updated_at"]
    # A new preset changes the names the connection did not set itself.
    auth0 = client.patch(SAML, json={"preset": "auth0"}, headers=account.headers).json()["data"]
    assert auth0["attributes"]["groups"] == "memberOf"
    assert auth0["attributes"]["name"] == (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
    )
    assert auth0["attributes"]["email"] is None
    # null idp_slo_url: no single logout any more.
    no_slo = client.patch(SAML, json={"idp_slo_url": None}, headers=account.headers)
    assert no_slo.json()["data"]["idp"]["slo_url"] is None


def test_from_metadata_with_overrides(client: TestClient, account: AccountFixture) -> None:
    old, new = m.rsa_cert("old"), m.ec_cert("p384")
    xml = m.idp_metadata(certs=(old, new))
    made = put(client, account.admin_key, {"idp_metadata_xml": xml})
    idp = made["idp"]
    assert (idp["entity_id"], idp["sso_url"], idp["slo_url"]) == (
        m.IDP_ENTITY,
        m.SSO_URL,
        m.SLO_URL,
    )
    assert [c["fingerprint_sha256"] for c in idp["certificates"]] == [
        m.fingerprint(old),
        m.fingerprint(new),
    ]
    # Explicit fields override the metadata's.
    override = put(
        client,
        account.admin_key,
        {"idp_metadata_xml": xml, "idp_sso_url": "https://other.example.com/sso"},
        status=200,
    )
    assert override["idp"]["sso_url"] == "https://other.example.com/sso"
    assert override["idp"]["entity_id"] == m.IDP_ENTITY
    # The POST binding is listed first; the HTTP-Redirect one is the one taken.
    both = m.idp_metadata(sso=((m.POST, "https://idp.example.com/post"), (m.REDIRECT, m.SSO_URL)))
    patched = client.patch(SAML, json={"idp_metadata_xml": both}, headers=account.headers)
    assert patched.json()["data"]["idp"]["sso_url"] == m.SSO_URL


BAD_CERT = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"


def _cert_body(cert: Any) -> dict[str, Any]:
    return fields(idp_certificates=[m.pem(cert)])


def _metadata_refusals() -> list[tuple[str, str]]:
    """(case, metadata document): each refused with a 400 naming idp_metadata_xml."""
    http_sso = ((m.REDIRECT, "http://idp.example.com/"),)
    return [
        ("not xml", "hello"),
        ("no idp in xml", m.metadata(m.entity()).replace("IDPSSO", "SPSSO")),
        ("two idps", m.metadata(m.entity(), m.entity("https://second.example.com"))),
        ("no redirect", m.idp_metadata(sso=((m.POST, m.SSO_URL),))),
        ("no signing cert", m.idp_metadata(certs=())),
        ("weak cert in xml", m.idp_metadata(certs=(m.rsa_cert("w", 1024),))),
        ("http sso in xml", m.idp_metadata(sso=http_sso)),
        ("xxe", m.metadata(m.entity("&xxe;"), prolog=m.XXE)),
        ("billion laughs", m.metadata(m.entity("&lol9;"), prolog=m.BILLION_LAUGHS)),
        ("doctype only", m.metadata(m.entity(), prolog="<!DOCTYPE md>")),
        ("oversized", m.idp_metadata() + " " * (256 * 1024)),
    ]


def _refusals() -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("no idp", {"preset": "okta"}, "idp_entity_id"),
        ("no sso url", fields(idp_sso_url=None), "idp_sso_url"),
        ("no certificate", fields(idp_certificates=None), "idp_certificates"),
        ("empty certificates", fields(idp_certificates=[]), "idp_certificates"),
        (
            "six certificates",
            fields(idp_certificates=[m.pem(m.rsa_cert())] * 6),
            "idp_certificates",
        ),
        ("not a certificate", fields(idp_certificates=[BAD_CERT]), "idp_certificates"),
        ("not base64", fields(idp_certificates=["%%%"]), "idp_certificates"),
        ("rsa 1024", _cert_body(m.rsa_cert("weak", 1024)), "idp_certificates"),
        ("ec secp256k1", _cert_body(m.ec_cert("k256")), "idp_certificates"),
        ("ed25519", _cert_body(m.ed25519_cert()), "idp_certificates"),
        ("dsa", _cert_body(m.dsa_cert()), "idp_certificates"),
        ("http url", fields(idp_sso_url="http://idp.example.com/sso"), "idp_sso_url"),
        ("javascript url", fields(idp_sso_url="javascript:alert(1)"), "idp_sso_url"),
        ("relative url", fields(idp_sso_url="/sso"), "idp_sso_url"),
        ("credentials", fields(idp_sso_url="https://u:p@idp.example.com/"), "idp_sso_url"),
        ("fragment", fields(idp_sso_url="https://idp.example.com/#x"), "idp_sso_url"),
        ("bad port", fields(idp_sso_url="https://idp.example.com:99999/"), "idp_sso_url"),
        ("space", fields(idp_sso_url="https://idp.example.com/a b"), "idp_sso_url"),
        ("http slo", fields(idp_slo_url="http://10.0.0.1/slo"), "idp_slo_url"),
        ("ftp slo", fields(idp_slo_url="ftp://idp.example.com/slo"), "idp_slo_url"),
        ("entity id control", fields(idp_entity_id="a\nb"), "idp_entity_id"),
        ("owner default", fields(default_role="owner"), "default_role"),
        ("unknown role", fields(default_role="god"), "default_role"),
        ("owner by group", fields(group_roles={"Admins": "owner"}), "group_roles.Admins"),
        ("101 groups", fields(group_roles={f"g{i}": "viewer" for i in range(101)}), "group_roles"),
        ("empty group", fields(group_roles={"": "viewer"}), "group_roles"),
        ("skew 301", fields(clock_skew_seconds=301), "clock_skew_seconds"),
        ("skew -1", fields(clock_skew_seconds=-1), "clock_skew_seconds"),
        ("preset", fields(preset="google"), "preset"),
        ("empty attribute", fields(attributes={"name": ""}), "attributes.name"),
        ("unknown field", fields(sp_private_key="x"), "sp_private_key"),
    ] + [
        (case, {"idp_metadata_xml": doc}, "idp_metadata_xml") for case, doc in _metadata_refusals()
    ]


@pytest.mark.parametrize(("case", "body", "field"), _refusals(), ids=[c[0] for c in _refusals()])
def test_bad_input_is_a_400_naming_the_field(
    client: TestClient, account: AccountFixture, case: str, body: dict[str, Any], field: str
) -> None:
    path = refused(client, account.admin_key, body)
    assert path == field or path.startswith(field + "."), path
    assert client.get(SAML, headers=account.headers).status_code == 404


def test_loopback_http_is_allowed(client: TestClient, account: AccountFixture) -> None:
    for host in ("127.0.0.1:8080", "[::1]", "localhost"):
        body = fields(idp_sso_url=f"http://{host}/sso", idp_slo_url=f"http://{host}/slo")
        data = put(client, account.admin_key, body, status=201)
        assert data["idp"]["sso_url"] == f"http://{host}/sso"
        assert client.delete(SAML, headers=account.headers).status_code == 204


def test_patch_validates_too(client: TestClient, account: AccountFixture) -> None:
    put(client, account.admin_key, fields())
    assert refused(client, account.admin_key, {"idp_sso_url": "http://x.example/"}, "PATCH") == (
        "idp_sso_url"
    )
    assert refused(client, account.admin_key, {"default_role": "owner"}, "PATCH") == "default_role"
    metadata = {"idp_metadata_xml": m.metadata(m.entity("&xxe;"), prolog=m.XXE)}
    assert refused(client, account.admin_key, metadata, "PATCH") == "idp_metadata_xml"


def test_a_body_over_the_limit_is_a_413(client: TestClient, account: AccountFixture) -> None:
    body = {"idp_metadata_xml": "x" * (2 * 1024 * 1024)}
    answer = client.put(SAML, json=body, headers=account.headers)
    assert answer.status_code == 413 and answer.json()["code"] == "PAYLOAD_TOO_LARGE"
