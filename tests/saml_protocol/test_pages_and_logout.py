"""SP metadata, "SSO required" on the password sign-in (owners keep it: break-glass),
the /login/sso page, and single logout both ways."""

from __future__ import annotations

import uuid
import zlib
from base64 import b64encode
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]
from sqlalchemy import select

from quantumlock.identity.models import UserSession
from tests.api.test_users_pages_api import PASSWORD, csrf_of, make_user, sign_in
from tests.conftest import AccountFixture, MakeAccount
from tests.saml_protocol.kit import (
    BASE,
    IDP,
    IDP_ENTITY,
    IDP_SLO,
    OTHER,
    KeyPair,
    Spec,
    add_connection,
    build,
)
from tests.saml_protocol.test_acs import email, events, post, start_login


def test_metadata_is_signed_with_the_sp_key(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    conn = add_connection(app, account.id)
    answer = client.get(f"/saml/{account.id}/metadata")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/samlmetadata+xml")
    xml = answer.text
    assert f'entityID="{BASE}/saml/{account.id}/metadata"' in xml
    assert f'Location="{BASE}/saml/{account.id}/acs"' in xml
    assert 'AuthnRequestsSigned="true"' in xml and 'WantAssertionsSigned="true"' in xml
    assert OneLogin_Saml2_Utils.validate_metadata_sign(xml, conn.sp_certificate)
    assert not OneLogin_Saml2_Utils.validate_metadata_sign(xml, IDP.cert_pem)
    missing = client.get("/saml/acc_none/metadata")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_sso_required_refuses_passwords_but_not_owners(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id, sso_required=True)
    member, _ = make_user(app, account, role="member")
    owner, _ = make_user(app, account, role="owner")
    refused = sign_in(client, member, PASSWORD)
    assert refused.status_code == 403
    assert "single sign-on" in refused.text and "/login/sso?next=" in refused.text
    assert events(app, account.id, "user.login_failed")[-1] == {"reason": "sso_required"}
    # A wrong password is still just wrong: SSO-bound addresses are not told apart.
    assert sign_in(client, member, "not the password 1").status_code == 401
    assert sign_in(client, owner, PASSWORD).status_code == 303  # the break-glass path


def test_sso_required_only_while_the_connection_is_enabled(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id, sso_required=True, enabled=False)
    member, _ = make_user(app, account, role="member")
    assert sign_in(client, member, PASSWORD).status_code == 303


def test_login_page_links_to_sso_and_sso_page_finds_the_account(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    sso, plain = make_account(), make_account()
    add_connection(app, sso.id)
    page = client.get("/login", params={"next": "/keys"})
    assert 'href="/login/sso?next=%2Fkeys"' in page.text
    form = client.get("/login/sso", params={"next": "/keys"})
    assert form.status_code == 200 and "<script" not in form.text
    csrf = csrf_of(form.text)
    bound, _ = make_user(app, sso)
    answer = client.post(
        "/login/sso",
        data={"csrf_token": csrf, "email": bound.upper(), "next": "/keys"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/saml/{sso.id}/login?next=%2Fkeys"
    not_bound, _ = make_user(app, plain)
    texts = set()
    for address in (not_bound, "nobody-" + uuid.uuid4().hex + "@example.com"):
        answer = client.post("/login/sso", data={"csrf_token": csrf, "email": address, "next": "/"})
        assert answer.status_code == 404
        texts.add(answer.text.replace(address, ""))
    assert len(texts) == 1  # one and the same answer
    no_csrf = client.post("/login/sso", data={"email": bound})
    assert no_csrf.status_code == 400


def _sso_session(app: FastAPI, client: TestClient, account_id: str) -> tuple[str, str]:
    """Sign in with SAML; (the NameID, the session id)."""
    name_id = email()
    spec = Spec(account_id, name_id=name_id, in_response_to=start_login(client, account_id))
    answer = post(client, account_id, build(spec))
    assert answer.status_code == 303
    with app.state.runtime.unit_of_work() as session:
        row = session.scalars(select(UserSession).where(UserSession.sso_name_id == name_id)).one()
        return name_id, row.id


def _revoked(app: FastAPI, session_id: str) -> bool:
    with app.state.runtime.unit_of_work() as session:
        row = session.get(UserSession, session_id)
        assert row is not None
        return row.revoked_at is not None


def test_sp_logout_goes_to_the_idp_with_a_signed_logout_request(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    conn = add_connection(app, account.id)
    name_id, session_id = _sso_session(app, client, account.id)
    csrf = csrf_of(client.get("/login/sso").text)
    answer = client.post(
        f"/saml/{account.id}/logout", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(IDP_SLO + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["SigAlg"] == [OneLogin_Saml2_Constants.RSA_SHA256]
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0]).decode()
    assert name_id in xml and "_sess1" in xml
    signed = OneLogin_Saml2_Auth._build_sign_query(
        query["SAMLRequest"][0], query["RelayState"][0], query["SigAlg"][0], "SAMLRequest"
    )
    assert OneLogin_Saml2_Utils.validate_binary_sign(
        signed, OneLogin_Saml2_Utils.b64decode(query["Signature"][0]), conn.sp_certificate
    )
    assert _revoked(app, session_id)
    assert events(app, account.id, "saml.logout")[-1]["initiated_by"] == "sp"


def test_sp_logout_without_idp_slo_url_ends_locally(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id, idp_slo_url=None)
    _name_id, session_id = _sso_session(app, client, account.id)
    csrf = csrf_of(client.get("/login/sso").text)
    answer = client.post(
        f"/saml/{account.id}/logout", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert _revoked(app, session_id)


def _redirect_message(kind: str, xml: str, signer: KeyPair | None) -> str:
    """The query string of an HTTP-Redirect message, signed as an IdP signs it."""
    data = b64encode(zlib.compress(xml.encode())[2:-4]).decode()
    alg = OneLogin_Saml2_Constants.RSA_SHA256
    query = f"{kind}={OneLogin_Saml2_Utils.escape_url(data)}"
    if signer is None:
        return query
    query += f"&SigAlg={OneLogin_Saml2_Utils.escape_url(alg)}"
    signature = OneLogin_Saml2_Utils.sign_binary(query, signer.key_pem)
    encoded: str = OneLogin_Saml2_Utils.escape_url(OneLogin_Saml2_Utils.b64encode(signature))
    return query + "&Signature=" + encoded


def _logout_request(account_id: str, name_id: str, session_index: str | None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    index = f"<samlp:SessionIndex>{session_index}</samlp:SessionIndex>" if session_index else ""
    return (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_lr{uuid.uuid4().hex}" Version="2.0" IssueInstant="{now}" '
        f'Destination="{BASE}/saml/{account_id}/slo">'
        f"<saml:Issuer>{IDP_ENTITY}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>"
        f"{index}</samlp:LogoutRequest>"
    )


def test_idp_logout_request_ends_the_named_sessions(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id)
    name_id, session_id = _sso_session(app, client, account.id)
    other_index = _redirect_message(
        "SAMLRequest", _logout_request(account.id, name_id, "_another"), IDP
    )
    answer = client.get(f"/saml/{account.id}/slo?{other_index}", follow_redirects=False)
    assert answer.status_code == 303 and not _revoked(app, session_id)
    query = _redirect_message("SAMLRequest", _logout_request(account.id, name_id, "_sess1"), IDP)
    answer = client.get(f"/saml/{account.id}/slo?{query}", follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(IDP_SLO + "?") and "Signature=" in location
    assert "SAMLResponse=" in location
    assert _revoked(app, session_id)
    assert events(app, account.id, "saml.logout")[-1]["sessions"] == 1


def test_idp_logout_messages_must_be_signed_by_the_idp(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id)
    name_id, session_id = _sso_session(app, client, account.id)
    for signer in (None, OTHER):
        query = _redirect_message("SAMLRequest", _logout_request(account.id, name_id, None), signer)
        answer = client.get(f"/saml/{account.id}/slo?{query}", follow_redirects=False)
        assert answer.status_code == 400, answer.text
    assert not _revoked(app, session_id)
    garbage = client.get(f"/saml/{account.id}/slo?SAMLRequest=%%%&Signature=x&SigAlg=y")
    assert garbage.status_code == 400


def test_idp_logout_response_goes_to_the_sign_in_page(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_lp{uuid.uuid4().hex}" Version="2.0" IssueInstant="{now}" '
        f'Destination="{BASE}/saml/{account.id}/slo" InResponseTo="_x">'
        f"<saml:Issuer>{IDP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode "
        'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        "</samlp:LogoutResponse>"
    )
    query = _redirect_message("SAMLResponse", xml, IDP)
    answer = client.get(f"/saml/{account.id}/slo?{query}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
