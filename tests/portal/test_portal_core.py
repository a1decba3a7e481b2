"""The portal's frame: sign-in and sign-out, the redirect when signed out, the
session-bound CSRF check, the headers of every page, its own static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.portal.support import PASSWORD, create_user, csrf_of, portal_user, sign_in


def test_signed_out_pages_redirect_to_login_and_back(client: TestClient) -> None:
    answer = client.get("/portal?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/login?next=%2Fportal%3Fx%3D1"


def test_login_page_headers_and_fields(client: TestClient) -> None:
    page = client.get("/portal/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "style-src 'self'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert '<label for="email">' in page.text and '<label for="password">' in page.text
    assert "<script>" not in page.text and "style=" not in page.text


def test_sign_in_new_session_token_and_next_stays_in_portal(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, _ = create_user(app, account.id, "viewer")
    client.cookies.set("ql_session", "attacker-chosen", domain="testserver.local")  # fixation
    page = client.get("/portal/login?next=https://evil.example/")
    form = {
        "csrf_token": csrf_of(page.text),
        "email": email,
        "password": PASSWORD,
        "next": "https://evil.example/",
    }
    answer = client.post("/portal/login", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal"
    issued = answer.headers["set-cookie"]
    assert issued.startswith("ql_session=") and "attacker-chosen" not in issued
    assert "HttpOnly" in issued and "SameSite=lax" in issued
    home = client.get("/portal")
    assert home.status_code == 200 and email in home.text


def test_wrong_password_is_plain_words(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, _ = create_user(app, account.id, "viewer")
    answer = sign_in(client, email, "wrong password here")
    assert answer.status_code == 401 and "Wrong email or password." in answer.text


def test_csrf_is_bound_to_the_session(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "owner")
    bob = portal_user(app, account, "owner")
    assert alice.csrf() != bob.csrf()
    missing = alice.client.post("/portal/logout", data={}, follow_redirects=False)
    assert missing.status_code == 403 and "not sent from your current session" in missing.text
    other = alice.client.post(
        "/portal/logout", data={"csrf_token": bob.csrf()}, follow_redirects=False
    )
    assert other.status_code == 403
    assert alice.client.get("/portal", follow_redirects=False).status_code == 200  # still in
    out = alice.post("/portal/logout")
    assert out.status_code == 303 and out.headers["location"] == "/portal/login"
    assert alice.client.get("/portal", follow_redirects=False).status_code == 303


def test_static_files_are_served_locally(client: TestClient) -> None:
    css = client.get("/portal/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = client.get("/portal/static/portal.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/portal/static/..%2Fcore.py").status_code == 404
    assert client.get("/portal/static/nothing.css").status_code == 404
