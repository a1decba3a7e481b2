"""The sign-in pages: /login (CSRF, safe next, cookie flags, a new session token at every
sign-in), /logout, and the one-time set-password link."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from quantumlock.core.actor import Actor
from quantumlock.identity.users.endpoints import SESSION_COOKIE, login_url, safe_next, signed_in
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture

PASSWORD = "correct horse battery 9"


def make_user(
    app: FastAPI, account: AccountFixture, email: str = "ada@example.com", **kw: str
) -> tuple[str, str | None]:
    """Create a user (the email made unique per test: the database is the worker's); return
    the email and the set-password token when no password was given."""
    local, _, domain = email.partition("@")
    email = f"{local}-{uuid.uuid4().hex[:8]}@{domain}"
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        created = UserService(session, runtime.hasher, runtime.sealer).create(
            Actor.operator(account.id),
            email=email,
            role=kw.get("role", "admin"),
            password=kw.get("password", PASSWORD) or None,
        )
        return email, created.link_token


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(
    client: TestClient, email: str, password: str, next_path: str = "/x", **extra: str
) -> httpx.Response:
    page = client.get("/login", params={"next": next_path}, follow_redirects=False)
    assert page.status_code in (200, 303)  # 303: already signed in
    csrf = csrf_of(page.text) if page.status_code == 200 else client.cookies.get("ql_csrf")
    form = {"csrf_token": csrf, "email": email, "password": password, "next": next_path, **extra}
    answer: httpx.Response = client.post("/login", data=form, follow_redirects=False)
    return answer


def test_login_form_has_security_headers_and_csrf_cookie(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script-src 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page.text and "style=" not in page.text
    assert '<label for="email">' in page.text and '<label for="password">' in page.text
    cookie = page.headers["set-cookie"]
    assert "ql_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_sign_in_sets_session_cookie_and_redirects_to_next(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, _ = make_user(app, account)
    answer = sign_in(client, email.upper() + " ", PASSWORD, next_path="/oauth/authorize?x=1")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/oauth/authorize?x=1"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


def test_https_cookie_is_secure(app: FastAPI, account: AccountFixture) -> None:
    email, _ = make_user(app, account)
    with TestClient(app, base_url="https://testserver") as https:
        answer = sign_in(https, email, PASSWORD)
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


def test_wrong_password_and_missing_csrf_are_refused(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, _ = make_user(app, account)
    wrong = sign_in(client, email, "not the password 1")
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    no_csrf = client.post(
        "/login",
        data={"email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert no_csrf.status_code == 400
    assert SESSION_COOKIE not in no_csrf.headers.get("set-cookie", "")


def test_new_session_token_at_every_sign_in(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, _ = make_user(app, account)

    def issued(answer: httpx.Response) -> str:
        match = re.search(SESSION_COOKIE + r"=([^;]+);", answer.headers["set-cookie"])
        assert match
        return match.group(1)

    client.cookies.set(SESSION_COOKIE, "planted-by-an-attacker", domain="testserver.local")
    first = sign_in(client, email, PASSWORD)
    assert first.status_code == 303
    second = sign_in(client, email, PASSWORD)
    assert second.status_code == 303
    tokens = {issued(first), issued(second), "planted-by-an-attacker"}
    assert len(tokens) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal?a=1", "/portal?a=1"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_url_quotes_next() -> None:
    assert (
        login_url("/oauth/authorize?a=1&b=2") == "/login?next=%2Foauth%2Fauthorize%3Fa%3D1%26b%3D2"
    )


def test_open_redirect_refused(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    email, _ = make_user(app, account)
    answer = sign_in(client, email, PASSWORD, next_path="//evil.example/")
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_logout_ends_the_session(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    email, _ = make_user(app, account)
    sign_in(client, email, PASSWORD)
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    page = client.get("/login", params={"next": "/here"}, follow_redirects=False)
    assert page.status_code == 303  # signed in: straight on
    csrf = client.cookies.get("ql_csrf")
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, token)
    again = client.get("/login", follow_redirects=False)
    assert again.status_code == 200  # the old token no longer signs anyone in


def test_set_password_link_is_single_use(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    email, token = make_user(app, account, email="new@example.com", password="")
    assert token
    url = f"/login/set-password/{token}"
    form_page = client.get(url)
    assert form_page.status_code == 200 and email in form_page.text
    csrf = csrf_of(form_page.text)
    weak = client.post(
        url, data={"csrf_token": csrf, "password": "password1234", "confirm": "password1234"}
    )
    assert weak.status_code == 400 and "common" in weak.text
    done = client.post(url, data={"csrf_token": csrf, "password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 200, done.text
    assert client.get(url).status_code == 404
    assert sign_in(client, email, PASSWORD).status_code == 303


def test_signed_in_helper(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    email, _ = make_user(app, account)
    sign_in(client, email, PASSWORD)

    @app.get("/whoami-test")
    async def whoami(request: Request) -> dict[str, str | None]:
        current = await signed_in(request)
        return {"email": current.user.email if current else None}

    assert client.get("/whoami-test").json() == {"email": email}
    client.cookies.clear()
    assert client.get("/whoami-test").json() == {"email": None}
