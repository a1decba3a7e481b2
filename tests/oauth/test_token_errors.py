"""Bad input at the token, revocation, introspection and userinfo endpoints: each answers
the RFC error (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 6750), never a 500 and never the
API's error body."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import select

from quantumlock.identity.models import IdentityEvent, ServiceAccount
from tests.conftest import AccountFixture
from tests.oauth.support import Registered, make_client, make_service_account

TOKEN = "/oauth/token"
CC = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def oauth_error(r: Any, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == error, body
    assert "code" not in body and "request_id" not in body  # never the API's error body
    assert r.headers["cache-control"] == "no-store"


@pytest.fixture
def sa(app: FastAPI, account: AccountFixture) -> Registered:
    return make_service_account(app, account.id, ["licenses:read"])


@pytest.fixture
def rp(app: FastAPI, account: AccountFixture) -> Registered:
    return make_client(app, account.id)  # authorization_code + refresh_token only


Case = Callable[[TestClient, Registered, Registered], Any]
CASES: dict[str, tuple[Case, int, str]] = {
    "unknown client (Basic)": (
        lambda c, sa, rp: c.post(TOKEN, data=CC, headers=basic("service_" + "x" * 24, "s")),
        401, "invalid_client"),
    "unknown client (form)": (
        lambda c, sa, rp: c.post(TOKEN, data={**CC, "client_id": "client_nope",
                                              "client_secret": sa.secret}),
        401, "invalid_client"),
    "wrong secret (Basic)": (
        lambda c, sa, rp: c.post(TOKEN, data=CC, headers=basic(sa.id, str(rp.secret))),
        401, "invalid_client"),
    "wrong secret (JSON)": (
        lambda c, sa, rp: c.post(TOKEN, json={**CC, "client_id": sa.id,
                                              "client_secret": "secret_wrong"}),
        401, "invalid_client"),
    "no client authentication": (
        lambda c, sa, rp: c.post(TOKEN, data=CC), 401, "invalid_client"),
    "grant type not the client's (service account, code)": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": "authorization_code", "code": "x",
                                              "redirect_uri": "https://a"}, headers=sa.basic()),
        400, "unauthorized_client"),
    "grant type not the client's (client, client_credentials)": (
        lambda c, sa, rp: c.post(TOKEN, data=CC, headers=rp.basic()), 400, "unauthorized_client"),
    "unsupported grant type": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": "password", "username": "a",
                                              "password": "b"}, headers=sa.basic()),
        400, "unsupported_grant_type"),
    "missing grant type": (
        lambda c, sa, rp: c.post(TOKEN, data={"scope": "x"}, headers=sa.basic()),
        400, "invalid_request"),
    "service account asking beyond its scopes": (
        lambda c, sa, rp: c.post(TOKEN, data={**CC, "scope": "licenses:write"},
                                 headers=sa.basic()),
        400, "invalid_scope"),
    "unknown scope": (
        lambda c, sa, rp: c.post(TOKEN, data={**CC, "scope": "openid"}, headers=sa.basic()),
        400, "invalid_scope"),
    "unknown code": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": "authorization_code",
                                              "code": "nope", "redirect_uri": "https://a"},
                                 headers=rp.basic()),
        400, "invalid_grant"),
    "missing code": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": "authorization_code"},
                                 headers=rp.basic()),
        400, "invalid_request"),
    "unknown refresh token": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": "refresh_token",
                                              "refresh_token": "nope"}, headers=rp.basic()),
        400, "invalid_grant"),
    "JSON array body": (
        lambda c, sa, rp: c.post(TOKEN, content=b"[1]", headers={"content-type":
                                                                 "application/json"}),
        400, "invalid_request"),
    "JSON with a non-string value": (
        lambda c, sa, rp: c.post(TOKEN, json={"grant_type": 5}), 400, "invalid_request"),
    "not JSON at all": (
        lambda c, sa, rp: c.post(TOKEN, content=b"{grant", headers={"content-type":
                                                                    "application/json"}),
        400, "invalid_request"),
    "text/plain body": (
        lambda c, sa, rp: c.post(TOKEN, content=b"grant_type=client_credentials",
                                 headers={"content-type": "text/plain"}),
        400, "invalid_request"),
    "form not UTF-8": (
        lambda c, sa, rp: c.post(TOKEN, content=b"grant_type=\xff\xfe",
                                 headers={"content-type": "application/x-www-form-urlencoded"}),
        400, "invalid_request"),
    "repeated parameter": (
        lambda c, sa, rp: c.post(TOKEN, content=b"grant_type=client_credentials&scope=a&scope=b",
                                 headers={"content-type": "application/x-www-form-urlencoded",
                                          **sa.basic()}),
        400, "invalid_request"),
    "Basic header not base64": (
        lambda c, sa, rp: c.post(TOKEN, data=CC, headers={"Authorization": "Basic %%%"}),
        401, "invalid_client"),
    "quotes and non-ASCII in values": (
        lambda c, sa, rp: c.post(TOKEN, data={"grant_type": 'x"\\é'}, headers=sa.basic()),
        400, "unsupported_grant_type"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_token_endpoint_bad_input(
    name: str, client: TestClient, sa: Registered, rp: Registered
) -> None:
    send, status, error = CASES[name]
    r = send(client, sa, rp)
    oauth_error(r, status, error)
    if error == "invalid_client":
        assert r.headers["www-authenticate"].startswith("Basic ")


def test_a_disabled_service_account_is_an_invalid_client(
    client: TestClient, app: FastAPI, sa: Registered
) -> None:
    assert client.post(TOKEN, data=CC, headers=sa.basic()).status_code == 200
    with app.state.runtime.unit_of_work() as session:
        session.get(ServiceAccount, sa.id).status = "disabled"
    oauth_error(client.post(TOKEN, data=CC, headers=sa.basic()), 401, "invalid_client")


def test_grants_and_failed_client_auth_are_audited_with_the_address(
    client: TestClient, app: FastAPI, sa: Registered
) -> None:
    assert client.post(TOKEN, data=CC, headers=sa.basic()).status_code == 200
    client.post(TOKEN, data=CC, headers=basic(sa.id, "secret_wrong"))
    with app.state.runtime.unit_of_work() as session:
        events = session.scalars(
            select(IdentityEvent).where(IdentityEvent.actor_id == sa.id).order_by(IdentityEvent.id)
        ).all()
        got = [(e.action, e.address, e.detail.get("grant_type")) for e in events]
    assert got == [
        ("token.grant", "testclient", "client_credentials"),
        ("token.client_auth_failed", "testclient", None),
    ]
    assert "secret" not in str([e.detail for e in events])


# ----------------------------------------------------------------------- private_key_jwt


def assertion(client_id: str, key: ECKey, aud: str, jti: str | None = None, **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 120,
              "jti": jti or uuid.uuid4().hex, **extra}  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


@pytest.fixture
def jwt_client(app: FastAPI, account: AccountFixture) -> tuple[Registered, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-1"})
    rp = make_client(
        app, account.id, grant_types=["client_credentials"], scopes=["account:read"],
        auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]},
    )  # fmt: skip
    return rp, key


def _pkj(client: TestClient, token: str) -> Any:
    return client.post(
        TOKEN,
        data={
            **CC,
            "client_assertion": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )


def test_private_key_jwt(client: TestClient, jwt_client: tuple[Registered, ECKey]) -> None:
    rp, key = jwt_client
    aud = "http://testserver/oauth/token"
    good = assertion(rp.id, key, aud)
    assert _pkj(client, good).status_code == 200
    # The same assertion (its jti) again.
    oauth_error(_pkj(client, good), 401, "invalid_client")
    # The issuer is an accepted audience too; another is not.
    assert _pkj(client, assertion(rp.id, key, "http://testserver")).status_code == 200
    oauth_error(_pkj(client, assertion(rp.id, key, "https://elsewhere/token")), 401,
                "invalid_client")  # fmt: skip
    other = ECKey.generate_key("P-256", parameters={"kid": "rp-1"})
    oauth_error(_pkj(client, assertion(rp.id, other, aud)), 401, "invalid_client")
    oauth_error(_pkj(client, assertion(rp.id, key, aud, exp=int(time.time()) - 600)), 401,
                "invalid_client")  # fmt: skip
    oauth_error(_pkj(client, "not.a.jwt"), 401, "invalid_client")
    # A secret does not authenticate a private_key_jwt client.
    oauth_error(client.post(TOKEN, data={**CC, "client_id": rp.id, "client_secret":
                                         "secret_x"}), 401, "invalid_client")  # fmt: skip


# ------------------------------------------------------------- revoke, introspect, userinfo


def _token(client: TestClient, who: Registered, **extra: str) -> str:
    r = client.post(TOKEN, data={**CC, **extra}, headers=who.basic())
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_revocation_and_introspection(
    client: TestClient, app: FastAPI, account: AccountFixture, sa: Registered,
    make_account: Any,
) -> None:  # fmt: skip
    access = _token(client, sa)
    live = client.post("/oauth/introspect", data={"token": access}, headers=sa.basic())
    assert live.status_code == 200 and live.json()["active"] is True
    assert live.json()["client_id"] == sa.id and live.json()["scope"] == "licenses:read"
    # Another account's client sees nothing of it.
    other = make_service_account(app, make_account(name="Other").id, ["account:read"])
    hidden = client.post("/oauth/introspect", data={"token": access}, headers=other.basic())
    assert hidden.json() == {"active": False}
    # Nor may it revoke it.
    oauth_error(client.post("/oauth/revoke", data={"token": access}, headers=other.basic()),
                400, "invalid_grant")  # fmt: skip
    # Client authentication is required.
    oauth_error(client.post("/oauth/revoke", data={"token": access}), 401, "invalid_client")
    oauth_error(client.post("/oauth/introspect", data={"token": access}), 401, "invalid_client")
    oauth_error(client.post("/oauth/revoke", data={}, headers=sa.basic()), 400,
                "invalid_request")  # fmt: skip
    oauth_error(client.post("/oauth/revoke", data={"token": "x", "token_type_hint": "magic"},
                            headers=sa.basic()), 400, "unsupported_token_type")  # fmt: skip
    r = client.post("/oauth/revoke", data={"token": access}, headers=sa.basic())
    assert r.status_code == 200 and r.json() == {}
    dead = client.post("/oauth/introspect", data={"token": access}, headers=sa.basic())
    assert dead.json() == {"active": False}
    # Unknown tokens: 200 / inactive.
    assert client.post("/oauth/revoke", data={"token": "nope"}, headers=sa.basic()).json() == {}
    garbage = client.post("/oauth/introspect", data={"token": "eyJ.x.y"}, headers=sa.basic())
    assert garbage.json() == {"active": False}


def test_userinfo_errors(client: TestClient, sa: Registered) -> None:
    r = client.get("/oauth/userinfo")
    oauth_error(r, 401, "invalid_token")
    assert r.headers["www-authenticate"].startswith("Bearer ")
    oauth_error(client.get("/oauth/userinfo", headers={"Authorization": "Bearer qcos_x"}), 401,
                "invalid_token")  # fmt: skip
    # A service account's token has no user and no openid scope.
    access = _token(client, sa)
    r = client.post("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    oauth_error(r, 403, "insufficient_scope")
