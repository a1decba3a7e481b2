# ruff: noqa: F811 - pytest fixtures imported from tests/saml/conftest.py
"""Review of #20: login CSRF at the ACS. An attacker starts a sign-in in their own browser,
has the IdP answer it, and makes the victim's browser post that genuine response: without a
binding the victim ends up signed in as the attacker (whatever the victim then types or
uploads lands in the attacker's account). Over https the AuthnRequest is bound to the
browser that started it (a SameSite=None; Secure cookie); over plain http browsers drop such
a cookie, so there is no binding (README, "Signing in with SAML")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.saml.conftest import flow, idp, idp_keys  # noqa: F401 - the test IdP's fixtures
from tests.saml.idp import AuthnRequestSeen, TestIdp, User
from tests.saml.support import SamlFlow, session_cookie, signed_in, unique_email

BINDING_COOKIE = "ql_saml_binding"


@pytest.fixture
def https_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as made:
        yield made


@pytest.fixture
def https_flow(https_client: TestClient, account: AccountFixture, idp: TestIdp) -> SamlFlow:
    made = SamlFlow(https_client, idp, account.id, account.admin_key)
    made.configure()
    return made


def test_login_sets_a_secure_cross_site_binding_cookie(https_flow: SamlFlow) -> None:
    answer = https_flow.http.get(
        https_flow.base + "/login", params={"next": "/x"}, follow_redirects=False
    )
    assert answer.status_code == 303
    cookies = [h for h in answer.headers.get_list("set-cookie") if h.startswith(BINDING_COOKIE)]
    assert cookies, answer.headers
    lowered = cookies[0].lower()
    assert "samesite=none" in lowered and "secure" in lowered and "httponly" in lowered


def _in_other_browser(flow: SamlFlow) -> tuple[AuthnRequestSeen, list[tuple[str, str]]]:
    """A sign-in started by another browser (the attacker's): its request and cookies;
    the client's own cookies are put back afterwards."""
    jar = flow.http.cookies
    mine = [(c.name, c.value or "", c.domain, c.path) for c in jar.jar]
    jar.clear()
    seen = flow.begin()
    theirs = [(c.name, c.value or "") for c in jar.jar]
    jar.clear()
    for name, value, domain, path in mine:
        jar.set(name, value, domain=domain, path=path)
    return seen, theirs


def test_response_posted_to_another_browser_is_refused(https_flow: SamlFlow) -> None:
    seen, attacker_cookies = _in_other_browser(https_flow)  # the attacker's own sign-in
    evil = https_flow.idp.answer(seen, User(unique_email("eve")))
    answer = https_flow.post(evil)  # ... whose answer the victim's browser posts
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert session_cookie(answer) is None
    assert not signed_in(https_flow.http)
    assert https_flow.failure_reasons()[0] == "unknown_request"
    # The same response in the browser that started it is accepted (the refusal was
    # about the binding only, and it did not spend the request).
    https_flow.http.cookies.clear()
    for name, value in attacker_cookies:
        https_flow.http.cookies.set(name, value)
    assert https_flow.post(evil).status_code == 303


def test_own_browser_is_accepted_with_two_sign_ins_in_flight(https_flow: SamlFlow) -> None:
    user = User(unique_email())
    first = https_flow.begin()
    second = https_flow.begin()  # a second tab
    answer = https_flow.post(https_flow.idp.answer(first, user))
    assert answer.status_code == 303, (answer.text[:300], https_flow.failure_reasons())
    assert session_cookie(answer)
    answer = https_flow.post(https_flow.idp.answer(second, user))
    assert answer.status_code == 303, (answer.text[:300], https_flow.failure_reasons())


def test_binding_cookie_of_another_request_does_not_count(https_flow: SamlFlow) -> None:
    """The victim has a binding of their own (a sign-in they started), not the attacker's."""
    https_flow.begin()
    seen, _ = _in_other_browser(https_flow)
    answer = https_flow.post(https_flow.idp.answer(seen, User(unique_email("eve"))))
    assert answer.status_code == 400
    assert https_flow.failure_reasons()[0] == "unknown_request"


def test_plain_http_is_not_bound(flow: SamlFlow) -> None:
    """Documented fallback: over http no binding cookie (browsers drop SameSite=None
    without Secure), and a response to a request of this account is accepted."""
    answer = flow.http.get(flow.base + "/login", follow_redirects=False)
    assert not [h for h in answer.headers.get_list("set-cookie") if h.startswith(BINDING_COOKIE)]
