"""The authorization code flow end to end, in-process: PKCE, sign-in form, consent, tokens,
ID token checked against /oauth/jwks, userinfo, refresh rotation and reuse detection, code
reuse."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from quantumlock.identity.models import IdentityEvent
from quantumlock.identity.tokens import decode_access_token
from tests.conftest import AccountFixture
from tests.oauth.flow import get_code, pkce
from tests.oauth.support import REDIRECT, make_client, make_user

TOKEN = "/oauth/token"


def exchange(client: TestClient, rp: Any, code: str, verifier: str | None) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier:
        data["code_verifier"] = verifier
    headers = rp.basic() if rp.secret else {}
    if not rp.secret:
        data["client_id"] = rp.id
    return client.post(TOKEN, data=data, headers=headers)


def refresh(client: TestClient, rp: Any, token: str) -> Any:
    return client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token},
                       headers=rp.basic())  # fmt: skip


def test_full_code_flow_with_pkce_id_token_refresh_and_reuse(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id)
    user_id, email, password = make_user(app, account.id, role="member")
    verifier, challenge = pkce()
    got = get_code(client, rp, email, password, challenge)
    assert got["state"] == got["sent"]["state"]

    r = exchange(client, rp, got["code"], verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tokens = r.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "scope", "refresh_token",
                           "id_token"}  # fmt: skip
    assert tokens["scope"] == "licenses:read openid profile email offline_access"

    keys = KeySet.import_key_set(client.get("/oauth/jwks").json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256", "RS256"])
    assert id_token.header["alg"] == "ES256" and id_token.header["kid"]
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "http://testserver"},
        aud={"essential": True, "value": rp.id},
        sub={"essential": True, "value": user_id},
        nonce={"essential": True, "value": got["sent"]["nonce"]},
    ).validate(claims)
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["email"] == email and claims["name"] == "Ada Lovelace"
    assert isinstance(claims["auth_time"], int) and claims["exp"] > claims["iat"]

    access = decode_access_token(tokens["access_token"], keys)
    assert access.user_id == user_id and access.client_id == rp.id and access.grant_id
    assert access.account_id == account.id and access.auth_time == claims["auth_time"]

    info = client.get("/oauth/userinfo", headers={"Authorization": "Bearer " +
                                                  tokens["access_token"]})  # fmt: skip
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": user_id, "email": email, "email_verified": False,
                           "name": "Ada Lovelace"}  # fmt: skip

    # Refresh: a new pair, the old refresh token dies.
    first = tokens["refresh_token"]
    r2 = refresh(client, rp, first)
    assert r2.status_code == 200, r2.text
    second = r2.json()["refresh_token"]
    assert second != first and "id_token" not in r2.json()
    # The used one again: reuse. The whole family dies (the new refresh token, the access
    # tokens).
    reused = refresh(client, rp, first)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(client, rp, second).json()["error"] == "invalid_grant"
    seen = client.post("/oauth/introspect", data={"token": r2.json()["access_token"]},
                       headers=rp.basic())  # fmt: skip
    assert seen.json() == {"active": False}
    with app.state.runtime.unit_of_work() as session:
        actions = session.scalars(
            select(IdentityEvent.action).where(IdentityEvent.actor_id == rp.id)
        ).all()
    assert actions == ["token.grant", "token.refresh", "token.refresh_reuse"]

    # Consent is remembered: the next authorization goes straight back with a code.
    _, challenge2 = pkce()
    again = client.get("/oauth/authorize", params={
        "response_type": "code", "client_id": rp.id, "redirect_uri": REDIRECT,
        "scope": "openid licenses:read", "code_challenge": challenge2,
        "code_challenge_method": "S256"}, follow_redirects=False)  # fmt: skip
    assert again.status_code == 302 and again.headers["location"].startswith(REDIRECT + "?code=")


def test_a_reused_code_is_refused_and_revokes_what_it_gave(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id)
    _, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    code = get_code(client, rp, email, password, challenge)["code"]
    first = exchange(client, rp, code, verifier)
    assert first.status_code == 200
    second = exchange(client, rp, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert refresh(client, rp, first.json()["refresh_token"]).json()["error"] == "invalid_grant"
    with app.state.runtime.unit_of_work() as session:
        assert session.scalars(
            select(IdentityEvent).where(IdentityEvent.action == "token.code_reuse")
        ).first()


def test_public_client_needs_pkce_and_gets_refresh_only_with_offline_access(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id, kind="public")
    _, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    code = get_code(client, rp, email, password, challenge, scope="openid licenses:read")["code"]
    missing = exchange(client, rp, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    code = get_code(client, rp, email, password, challenge, scope="openid licenses:read")["code"]
    ok = exchange(client, rp, code, verifier)
    assert ok.status_code == 200, ok.text
    assert "refresh_token" not in ok.json() and "id_token" in ok.json()


def test_revoking_tokens_of_a_user_grant(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    rp = make_client(app, account.id)
    _, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    tokens = exchange(client, rp, get_code(client, rp, email, password, challenge)["code"],
                      verifier).json()  # fmt: skip

    def introspect(token: str) -> Any:
        return client.post("/oauth/introspect", data={"token": token}, headers=rp.basic()).json()

    assert introspect(tokens["refresh_token"])["active"] is True
    assert introspect(tokens["refresh_token"])["token_type"] == "refresh_token"
    live = introspect(tokens["access_token"])
    jti, grant_id = (
        live["jti"],
        decode_access_token(
            tokens["access_token"], KeySet.import_key_set(client.get("/oauth/jwks").json())
        ).grant_id,
    )
    # An access token alone: refused from now on (announced as an oauth_token change).
    r = client.post("/oauth/revoke", data={"token": tokens["access_token"],
                    "token_type_hint": "access_token"}, headers=rp.basic())  # fmt: skip
    assert r.status_code == 200 and r.json() == {}
    assert introspect(tokens["access_token"]) == {"active": False}
    assert introspect(tokens["refresh_token"])["active"] is True
    # The refresh token: the whole grant ends.
    assert client.post("/oauth/revoke", data={"token": tokens["refresh_token"]},
                       headers=rp.basic()).json() == {}  # fmt: skip
    assert introspect(tokens["refresh_token"]) == {"active": False}
    assert refresh(client, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    with app.state.runtime.unit_of_work() as session:
        from quantumlock.db.base import ChangeEvent

        kinds = set(
            session.execute(
                select(ChangeEvent.kind, ChangeEvent.ref).where(
                    ChangeEvent.ref.in_([jti, grant_id])
                )
            ).all()
        )
        revokes = session.scalars(
            select(IdentityEvent.detail).where(
                IdentityEvent.action == "token.revoke", IdentityEvent.actor_id == rp.id
            )
        ).all()
    assert kinds == {("oauth_token", jti), ("oauth_grant", grant_id)}
    assert [d["token_type"] for d in revokes] == ["access_token", "refresh_token"]
