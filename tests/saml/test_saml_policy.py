"""SSO required (password login refused for the account's users, not for owners) and single
logout started by the IdP, in-process."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tests.api.test_users_pages_api import sign_in
from tests.saml.idp import KeyPair, User
from tests.saml.support import SamlFlow, session_cookie, signed_in, unique_email

PASSWORD = "correct horse battery 9"
SSO_MESSAGE = "Your organisation signs in with single sign-on"


def password_login(http: httpx.Client, email: str) -> httpx.Response:
    http.cookies.clear()
    return sign_in(http, email, PASSWORD)  # type: ignore[arg-type]


def test_sso_required_refuses_the_users_password_but_not_an_owners(flow: SamlFlow) -> None:
    member = flow.create_user(unique_email("member"), "member", PASSWORD)
    owner = flow.create_user(unique_email("owner"), "owner", PASSWORD)
    # Before the switch the member's password works: the refusal below is the switch's.
    assert password_login(flow.http, member["email"]).status_code == 303
    flow.update(sso_required=True)

    refused = password_login(flow.http, member["email"])
    assert refused.status_code in (401, 403), refused.text[:500]
    assert session_cookie(refused) is None
    assert SSO_MESSAGE in refused.text
    assert f"/saml/{flow.account_id}/login" in refused.text or "/login/sso" in refused.text
    failed = [e for e in flow.events("user.login_failed") if e["object_id"] == member["id"]]
    assert failed and failed[0]["detail"]["reason"] == "sso_required"
    # A wrong password is still just a wrong password (the switch tells strangers nothing).
    flow.http.cookies.clear()
    wrong = sign_in(flow.http, member["email"], "not the password 1")  # type: ignore[arg-type]
    assert wrong.status_code == 401 and SSO_MESSAGE not in wrong.text

    # The owner's password is the break-glass path.
    allowed = password_login(flow.http, owner["email"])
    assert allowed.status_code == 303 and session_cookie(allowed)

    # And the member signs in through the IdP.
    flow.http.cookies.clear()
    seen = flow.begin()
    answer = flow.post(flow.idp.answer(seen, User(member["email"])))
    assert answer.status_code == 303, (answer.text[:500], flow.failure_reasons())
    assert signed_in(flow.http)


def test_idp_logout_request_ends_the_session(flow: SamlFlow, stranger_keys: KeyPair) -> None:
    user = User(unique_email())
    seen = flow.begin()
    answer = flow.post(flow.idp.answer(seen, user, session_index="_slo-session-1"))
    assert answer.status_code == 303, (answer.text[:500], flow.failure_reasons())
    assert signed_in(flow.http)
    slo_path = urlsplit(flow.slo_url).path

    def slo(url: str) -> httpx.Response:
        parts = urlsplit(url)
        return flow.http.get(parts.path + "?" + parts.query, follow_redirects=False)

    # A LogoutRequest signed by a key the account does not trust changes nothing.
    forged = flow.idp.logout_request_url(
        flow.slo_url, user.email, "_slo-session-1", keys=stranger_keys
    )
    assert slo(forged).status_code in (400, 403)
    assert signed_in(flow.http)

    url = flow.idp.logout_request_url(
        flow.slo_url, user.email, "_slo-session-1", sp_entity_id=flow.sp_entity_id
    )
    assert urlsplit(url).path == slo_path
    done = slo(url)
    assert done.status_code == 303, done.text[:500]
    location = done.headers["location"]
    assert location.startswith(flow.idp.slo_url + "?")
    status, _ = flow.idp.read_logout_response(location)
    assert status == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert not signed_in(flow.http)
    made = flow.user(user.email)
    assert made is not None and flow.sessions_of(made["id"]) == []
    assert flow.events("saml.logout")
