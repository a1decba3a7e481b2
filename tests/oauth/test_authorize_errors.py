"""Bad input at the authorization endpoint. Until the client and its redirect URI are known
good, an HTML error page (never a redirect); after, the error goes to the redirect URI with
the state (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). Then the code's own refusals at the token
endpoint (PKCE, expiry, redirect URI)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from quantumlock.core.clock import utcnow
from quantumlock.identity.models import OAuthAuthorizationCode
from tests.conftest import AccountFixture
from tests.oauth.flow import authorize_params, get_code, pkce, query_of, sign_in
from tests.oauth.support import REDIRECT, make_client, make_user

AUTHZ = "/oauth/authorize"


@pytest.fixture
def world(client: TestClient, app: FastAPI, account: AccountFixture) -> dict[str, Any]:
    rp = make_client(app, account.id)
    public = make_client(app, account.id, kind="public")
    viewer = make_user(app, account.id, role="viewer")
    return {"rp": rp, "public": public, "viewer": viewer}


def _page(r: Any, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


PAGE_CASES: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "unknown client": lambda w: authorize_params(w["rp"], pkce()[1], client_id="client_nope"),
    "missing client_id": lambda w: authorize_params(w["rp"], pkce()[1], client_id=""),
    "wrong redirect URI": lambda w: authorize_params(
        w["rp"], pkce()[1], redirect_uri="https://evil.example/cb"),
    "redirect URI with a prefix match only": lambda w: authorize_params(
        w["rp"], pkce()[1], redirect_uri=REDIRECT + "/more"),
    "redirect URI with quotes": lambda w: authorize_params(
        w["rp"], pkce()[1], redirect_uri='https://x/"\\é'),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PAGE_CASES))
def test_errors_before_the_redirect_uri_is_known_good_are_a_page(
    name: str, client: TestClient, world: dict[str, Any]
) -> None:
    _page(client.get(AUTHZ, params=PAGE_CASES[name](world), follow_redirects=False))


REDIRECT_CASES: dict[str, tuple[Callable[[dict[str, Any]], dict[str, str]], str]] = {
    "plain PKCE method": (
        lambda w: authorize_params(w["rp"], None, code_challenge="a" * 43,
                                   code_challenge_method="plain"), "invalid_request"),
    "PKCE without method (plain by default)": (
        lambda w: authorize_params(w["rp"], None, code_challenge="a" * 43), "invalid_request"),
    "public client without PKCE": (
        lambda w: authorize_params(w["public"], None), "invalid_request"),
    "unsupported response type": (
        lambda w: authorize_params(w["rp"], pkce()[1], response_type="token"),
        "unsupported_response_type"),
    "scope the client may not have": (
        lambda w: authorize_params(w["rp"], pkce()[1], scope="admin"), "invalid_scope"),
    "unknown scope": (
        lambda w: authorize_params(w["rp"], pkce()[1], scope="openid wat"), "invalid_scope"),
    "prompt=none, not signed in": (
        lambda w: authorize_params(w["rp"], pkce()[1], prompt="none"), "login_required"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REDIRECT_CASES))
def test_errors_after_the_redirect_uri_is_known_good_are_redirected(
    name: str, client: TestClient, world: dict[str, Any]
) -> None:
    params, error = REDIRECT_CASES[name]
    sent = params(world)
    r = client.get(AUTHZ, params=sent, follow_redirects=False)
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith(REDIRECT + "?")
    got = query_of(r.headers["location"])
    assert got["error"] == error and got["state"] == sent["state"]
    assert "code" not in got


def _signed_in(client: TestClient, rp: Any, email: str, password: str) -> None:
    r = client.get(AUTHZ, params=authorize_params(rp, pkce()[1]), follow_redirects=False)
    sign_in(client, str(r.headers["location"]), email, password)


def test_signed_in_refusals(
    client: TestClient, app: FastAPI, account: AccountFixture, make_account: Any,
    world: dict[str, Any],
) -> None:  # fmt: skip
    rp = world["rp"]
    admin_client = make_client(app, account.id, scopes=["admin", "openid"])
    _, email, password = world["viewer"]
    _signed_in(client, rp, email, password)
    # A viewer asking admin: invalid_scope, to the client.
    sent = authorize_params(admin_client, pkce()[1], scope="openid admin")
    got = query_of(client.get(AUTHZ, params=sent, follow_redirects=False).headers["location"])
    assert got["error"] == "invalid_scope" and got["state"] == sent["state"]
    # prompt=none with no consent given yet.
    sent = authorize_params(rp, pkce()[1], prompt="none", scope="openid")
    got = query_of(client.get(AUTHZ, params=sent, follow_redirects=False).headers["location"])
    assert got["error"] == "consent_required"
    # Denying consent.
    page = client.get(AUTHZ, params=authorize_params(rp, pkce()[1], scope="openid"))
    from tests.oauth.flow import approve

    denied = query_of(approve(client, page, decision="deny"))
    assert denied["error"] == "access_denied" and "code" not in denied
    # The consent form without its CSRF token.
    r = client.post(AUTHZ + "?" + str(page.url.query), data={"decision": "approve"},
                    follow_redirects=False)  # fmt: skip
    _page(r)
    # A client of another account: its users cannot sign in to it.
    other = make_client(app, make_account(name="Other").id)
    _page(client.get(AUTHZ, params=authorize_params(other, pkce()[1], scope="openid"),
                     follow_redirects=False), 403)  # fmt: skip
    # prompt=login: the sign-in form comes back even though signed in, then the flow goes
    # on. The GET alone ends nothing (a cross-site link must not sign anyone out); the old
    # session ends when the new sign-in succeeds.
    old_session = client.cookies["ql_session"]
    forced = authorize_params(rp, pkce()[1], prompt="login consent", scope="openid")
    r = client.get(AUTHZ, params=forced, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("/login?next=")
    assert r.headers["location"].endswith("&reauth=1")
    assert "prompt%3Dconsent" in r.headers["location"]
    assert "ql_session" not in r.headers.get("set-cookie", "")
    assert client.get("/login", follow_redirects=False).status_code == 303  # still signed in
    back = sign_in(client, str(r.headers["location"]), email, password)
    assert "prompt=consent" in back and "login" not in back.split("prompt=")[1].split("&")[0]
    assert client.cookies["ql_session"] != old_session
    assert "Allow" in client.get(back, follow_redirects=False).text  # consent, as asked
    client.cookies.set("ql_session", old_session)  # the replaced session no longer works
    assert client.get("/login", follow_redirects=False).status_code == 200


def test_code_refusals_at_the_token_endpoint(
    client: TestClient, app: FastAPI, account: AccountFixture, world: dict[str, Any]
) -> None:
    rp = world["rp"]
    _, email, password = make_user(app, account.id)
    verifier, challenge = pkce()

    def exchange(code: str, **extra: str) -> Any:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": verifier, **extra}  # fmt: skip
        return client.post("/oauth/token", data={k: v for k, v in data.items() if v},
                           headers=rp.basic())  # fmt: skip

    code = get_code(client, rp, email, password, challenge)["code"]
    for extra, error in [
        ({"code_verifier": "w" * 50}, "invalid_grant"),  # wrong verifier
        ({"code_verifier": ""}, "invalid_request"),  # missing verifier
        ({"code_verifier": "short"}, "invalid_request"),
        ({"redirect_uri": "https://rp.example/other"}, "invalid_grant"),
    ]:
        r = exchange(code, **extra)
        assert r.status_code == 400 and r.json()["error"] == error, (extra, r.text)
    # Another client cannot use it.
    other = make_client(app, account.id)
    r = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                    "redirect_uri": REDIRECT, "code_verifier": verifier},
                    headers=other.basic())  # fmt: skip
    assert r.json()["error"] == "invalid_grant"
    # Expired (60 s lifetime).
    with app.state.runtime.unit_of_work() as session:
        session.execute(update(OAuthAuthorizationCode).values(
            expires_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
    r = exchange(code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
