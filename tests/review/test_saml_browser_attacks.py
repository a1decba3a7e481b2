# ruff: noqa: F811 - pytest fixtures imported from tests/saml/conftest.py
"""Review of #20, the browser side: SSO required and sessions made before it, single logout
replays, IdP-initiated RelayState, email variants of an existing user, hostile XML."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.test_users_pages_api import sign_in
from tests.saml.conftest import flow, idp, idp_keys  # noqa: F401 - the test IdP's fixtures
from tests.saml.idp import User, encode_post
from tests.saml.support import SamlFlow, session_cookie, signed_in, unique_email

PASSWORD = "correct horse battery 9"


def _slo(flow: SamlFlow, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return flow.http.get(parts.path + "?" + parts.query, follow_redirects=False)


def test_turning_sso_required_on_ends_the_users_password_sessions(flow: SamlFlow) -> None:
    """A member signed in with a password before the switch must not keep that session for
    a week: the switch ends the password sessions of the account's non-owners."""
    member = flow.create_user(unique_email("member"), "member", PASSWORD)
    owner = flow.create_user(unique_email("owner"), "owner", PASSWORD)
    member_http = httpx.Client(transport=flow.http._transport, base_url=flow.http.base_url)
    assert sign_in(member_http, member["email"], PASSWORD).status_code == 303  # type: ignore[arg-type]
    owner_http = httpx.Client(transport=flow.http._transport, base_url=flow.http.base_url)
    assert sign_in(owner_http, owner["email"], PASSWORD).status_code == 303  # type: ignore[arg-type]
    assert signed_in(member_http) and signed_in(owner_http)
    flow.update(sso_required=True)
    assert not signed_in(member_http), "the member's password session outlived SSO required"
    assert signed_in(owner_http), "owners keep their password sessions (break-glass)"
    assert flow.sessions_of(member["id"]) == []


def test_a_logout_request_is_used_once(flow: SamlFlow) -> None:
    """A genuine LogoutRequest (no SessionIndex) replayed after the user signed in again
    would end the new session: each LogoutRequest ID is accepted once."""
    user = User(unique_email())
    seen = flow.begin()
    assert flow.post(flow.idp.answer(seen, user)).status_code == 303
    url = flow.idp.logout_request_url(flow.slo_url, user.email, sp_entity_id=flow.sp_entity_id)
    assert _slo(flow, url).status_code == 303
    assert not signed_in(flow.http)
    seen = flow.begin()
    assert flow.post(flow.idp.answer(seen, user)).status_code == 303
    assert signed_in(flow.http)
    replayed = _slo(flow, url)
    assert replayed.status_code == 400, replayed.status_code
    assert replayed.headers["content-type"].startswith("text/html")
    assert signed_in(flow.http), "a replayed LogoutRequest ended the new session"


def test_a_logout_request_for_another_accounts_name_id_ends_nothing(
    flow: SamlFlow, make_account: object
) -> None:
    user = User(unique_email())
    seen = flow.begin()
    assert flow.post(flow.idp.answer(seen, user)).status_code == 303
    other = make_account()  # type: ignore[operator]
    other_flow = SamlFlow(flow.http, flow.idp, other.id, other.admin_key)
    other_flow.configure()
    url = flow.idp.logout_request_url(
        other_flow.slo_url, user.email, sp_entity_id=other_flow.sp_entity_id
    )
    assert _slo(other_flow, url).status_code == 303  # valid for B; ends none of A's
    flow.http.cookies.set("ql_session", "")  # B's answer cleared the cookie; look server-side
    made = flow.user(user.email)
    assert made is not None and len(flow.sessions_of(made["id"])) == 1


OPEN_REDIRECTS = [
    "//evil.test/x",
    "/\\evil.test/x",
    "/\t/evil.test/x",
    "/\n/evil.test/x",
    "\t//evil.test/x",
    " //evil.test/x",
    "https://evil.test/x",
    "https:evil.test",
    "/%2F%2Fevil.test/x",
    "/\u3002/evil.test",
    "/\uff0f/evil.test",
    "///evil.test",
    "/.//evil.test",
]


def test_idp_initiated_relay_state_never_leaves_the_site(flow: SamlFlow) -> None:
    flow.update(allow_idp_initiated=True)
    user = User(unique_email())
    for relay in OPEN_REDIRECTS:
        flow.http.cookies.clear()
        xml = flow.idp.idp_initiated(user, flow.sp_entity_id, flow.acs_url)
        answer = flow.post(xml, relay_state=relay)
        assert answer.status_code == 303, (relay, answer.text[:300])
        location = answer.headers["location"]
        parts = urlsplit(location)
        assert not parts.scheme and not parts.netloc, (relay, location)
        assert location.startswith("/") and location[1:2] not in ("/", "\\"), (relay, location)
        assert not any(c in location for c in "\t\n\r\\ "), (relay, location)


def test_email_case_and_spaces_find_the_existing_user(flow: SamlFlow) -> None:
    email = unique_email("grace")
    made = flow.create_user(email, "member")
    for variant in (email.upper(), f"  {email}  ", email.title()):
        flow.http.cookies.clear()
        seen = flow.begin()
        answer = flow.post(flow.idp.answer(seen, User(variant, name_id=variant)))
        assert answer.status_code == 303, (variant, flow.failure_reasons())
    same = [u for u in flow.users() if u["email"] == email.lower()]
    assert len(same) == 1 and same[0]["id"] == made["id"]
    assert not [e for e in flow.events("user.create") if e["detail"].get("via") == "saml"]


@pytest.mark.parametrize("depth", [300, 20000])
def test_deeply_nested_xml_is_a_page_and_an_audit_entry(flow: SamlFlow, depth: int) -> None:
    seen = flow.begin()
    good = flow.idp.answer(seen, User(unique_email()))
    nest = "<x>" * depth + "</x>" * depth
    hostile = re.sub(r"(</[A-Za-z0-9]+:Issuer>)", lambda m: m.group(1) + nest, good, count=1)
    assert hostile != good
    answer = flow.post(hostile)
    assert answer.status_code == 400, answer.status_code
    assert answer.headers["content-type"].startswith("text/html")
    assert session_cookie(answer) is None
    assert flow.failure_reasons()[0] in {"malformed", "invalid_signature"}


def test_garbage_forms_are_pages_and_audited(flow: SamlFlow) -> None:
    cases = [
        {"SAMLResponse": encode_post("<not xml")},
        {"SAMLResponse": "!!!"},
        {"SAMLResponse": encode_post("<samlp:Response xmlns:samlp='x'/>")},
        {"SAMLResponse": encode_post('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r/>')},
    ]
    for form in cases:
        before = len(flow.failure_reasons())
        answer = flow.http.post(flow.base + "/acs", data=form, follow_redirects=False)
        assert answer.status_code == 400, (form, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
        assert len(flow.failure_reasons()) == before + 1


def test_other_methods_and_bodies_at_the_acs_are_html(flow: SamlFlow) -> None:
    """A browser that reloads or bookmarks the ACS (or the sign-out URL), or a client
    posting JSON or multipart: pages, not the API's JSON 405."""
    acs = flow.base + "/acs"
    answers = [
        flow.http.get(acs, follow_redirects=False),
        flow.http.post(acs, json={"SAMLResponse": "x"}, follow_redirects=False),
        flow.http.post(acs, files={"SAMLResponse": ("r", b"x")}, follow_redirects=False),
        flow.http.post("/saml/acc_nope/acs", data={"SAMLResponse": "x"}, follow_redirects=False),
        flow.http.get(flow.base + "/logout", follow_redirects=False),
    ]
    for answer in answers:
        assert answer.status_code < 500, (answer.request.method, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), (
            answer.request.url,
            answer.request.method,
            answer.status_code,
            answer.text[:200],
        )


def test_refused_logout_messages_are_audited(flow: SamlFlow) -> None:
    """A refused IdP LogoutRequest (a replay here) leaves `saml.logout_failed` with its reason
    in the audit trail, as a refused sign-in does."""
    user = User(unique_email())
    seen = flow.begin()
    assert flow.post(flow.idp.answer(seen, user)).status_code == 303
    url = flow.idp.logout_request_url(flow.slo_url, user.email, sp_entity_id=flow.sp_entity_id)
    assert _slo(flow, url).status_code == 303
    assert _slo(flow, url).status_code == 400
    refused = flow.events("saml.logout_failed")
    assert [event["detail"]["reason"] for event in refused] == ["replay"]
