"""OAuth 2.0 access tokens on the API (#19, bearer): accepted like API keys, refused the
moment what they depend on changes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from quantumlock.auth.models import ApiKey
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.identity.models import OAuthClient, ServiceAccount, User
from quantumlock.settings import Settings
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.tokens import Issuer

ME = "/api/v2/me"


@pytest.fixture
def issuer(app: FastAPI) -> Issuer:
    runtime = app.state.runtime
    return Issuer(runtime.sessions, runtime.sealer)


def refused(client: TestClient, token: str, detail: str, *, within: float = 2.0) -> None:
    """The token is refused with `detail` within `within` s (the change feed's delivery)."""
    deadline = time.monotonic() + within
    while True:
        resp = client.get(ME, headers=bearer(token))
        if resp.status_code == 401:
            body = resp.json()
            assert (body["code"], body["detail"]) == ("UNAUTHORIZED", detail), body
            assert set(body) >= {"timestamp", "request_id"}
            return
        assert resp.status_code == 200, resp.text
        assert time.monotonic() < deadline, f"still accepted after {within} s"
        time.sleep(0.02)


def test_a_service_account_token_answers_me_like_a_key(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token, claims = issuer.service_token(account.id, scopes=["licenses:read", "licenses:write"])
    sa = claims.client_id
    resp = client.get(ME, headers=bearer(token))
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["key_id"] == sa and data["account_id"] == account.id
    assert (data["type"], data["mode"]) == ("live", "live")
    assert data["scopes"] == ["licenses:read", "licenses:write"]
    assert data["subject"]["kind"] == "service_account"
    assert data["subject"]["id"] == data["subject"]["client_id"] == sa
    assert data["expires_at"] == data["subject"]["token_expires_at"]
    assert data["rate_limit"]["limit"] == 500  # business plan, per client like a key
    assert resp.headers["x-ratelimit-limit"] == "500"
    # An API key's answer has no subject.
    assert client.get(ME, headers=account.headers).json()["data"]["subject"] is None


def test_scopes_limit_a_token_like_a_key(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token, _ = issuer.service_token(account.id, scopes=["licenses:read", "licenses:write"])
    made = client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c-1"}, headers=bearer(token)
    )
    assert made.status_code == 201, made.text
    listed = client.get("/api/v2/keys", headers=bearer(token))
    assert listed.status_code == 403 and listed.json()["code"] == "INSUFFICIENT_SCOPE"


def test_a_test_mode_token_sees_only_test_mode(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    live = client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c-1"}, headers=account.headers
    ).json()["license_key"]
    token, _ = issuer.service_token(account.id, mode="test")
    me = client.get(ME, headers=bearer(token)).json()["data"]
    assert (me["type"], me["mode"], me["rate_limit"]["limit"]) == ("test", "test", 50)
    assert client.get(f"/api/v1/licenses/{live}", headers=bearer(token)).status_code == 404


def test_x_api_key_and_bearer_both_carry_a_token(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token, _ = issuer.service_token(account.id)
    assert client.get(ME, headers={"X-API-Key": token}).status_code == 200
    assert client.get(ME, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_forged_expired_id_and_foreign_tokens_are_refused(
    client: TestClient, account: AccountFixture, issuer: Issuer, app: FastAPI
) -> None:
    token, claims = issuer.service_token(account.id)
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    old = issuer.mint(account.id, claims.client_id, now=int(time.time()) - 2000)[0]
    cases = {
        forged: "Invalid access token.",
        old: "Access token expired.",
        "eyJhbGciOiJub25lIn0.e30.": "Invalid access token.",
        "eyJhbGciOiJFUzI1NiJ9.not-base64!.x": "Invalid access token.",
    }
    # Signed by our key, but not an access token: an ID token (typ JWT).
    from joserfc import jwt

    key = issuer.signing_key()
    id_token = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims.to_claims(), key)
    cases[id_token] = "Invalid access token."
    # A token for another audience.
    other = jwt.encode(
        {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"},
        {**claims.to_claims(), "aud": "someone-else"},
        key,
    )
    cases[other] = "Invalid access token."
    for presented, detail in cases.items():
        resp = client.get(ME, headers=bearer(presented))
        assert resp.status_code == 401, (detail, resp.text)
        assert (resp.json()["code"], resp.json()["detail"]) == ("UNAUTHORIZED", detail)
    # Counted by the brute-force guard like bad keys.
    metrics = client.get("/metrics").text
    assert 'quantumlock_auth_failures_total{code="UNAUTHORIZED"}' in metrics


def test_an_unknown_kid_reloads_the_keys_at_most_once_per_interval(
    client: TestClient, account: AccountFixture, issuer: Issuer, app: FastAPI
) -> None:
    token, claims = issuer.service_token(account.id)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    from joserfc import jwt

    key = issuer.signing_key()
    keys = app.state.bearer._keys
    before = keys.loads
    for i in range(20):
        made_up = jwt.encode(
            {"alg": "ES256", "kid": f"kid_madeup{i}", "typ": "at+jwt"}, claims.to_claims(), key
        )
        assert client.get(ME, headers=bearer(made_up)).status_code in (401, 429)
    assert keys.loads - before <= 1


def test_a_key_made_on_another_node_verifies_at_once(
    client: TestClient, account: AccountFixture, issuer: Issuer, settings: Settings
) -> None:
    """A rotation made elsewhere (another engine: this process hears of it only from its
    poll): a token signed with the new key works on its first request here, whether the
    change or the unknown kid made this node reload."""
    token, claims = issuer.service_token(account.id)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    engine = make_engine(settings.resolved_database_url)
    try:
        elsewhere = Issuer(make_session_factory(engine), issuer.sealer)
        new = elsewhere.rotate()
        fresh = elsewhere.mint(account.id, claims.client_id, key=new)[0]
        assert client.get(ME, headers=bearer(fresh)).status_code == 200
    finally:
        engine.dispose()


def test_old_tokens_still_verify_after_a_rotation_until_the_key_is_retired(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    old_key = issuer.signing_key()
    token, claims = issuer.service_token(account.id)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    new_key = issuer.rotate()
    assert new_key.kid != old_key.kid
    fresh = issuer.mint(account.id, claims.client_id, key=new_key)[0]
    assert client.get(ME, headers=bearer(fresh)).status_code == 200
    assert client.get(ME, headers=bearer(token)).status_code == 200  # verify_only still verifies
    assert old_key.kid is not None
    issuer.retire(old_key.kid)
    refused(client, token, "Invalid access token.")
    assert client.get(ME, headers=bearer(fresh)).status_code == 200


@pytest.mark.parametrize("what", ["service_account", "oauth_client", "user"])
def test_disabling_what_a_token_acts_for_refuses_it(
    what: str, client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    client_id = issuer.oauth_client(account.id) if what != "service_account" else None
    if what == "service_account":
        token, claims = issuer.service_token(account.id)
        sa = claims.client_id
        disable: Callable[[], None] = lambda: issuer.set_status(  # noqa: E731
            ServiceAccount, sa, "disabled", "service_account"
        )
    else:
        assert client_id is not None
        user = issuer.user(account.id)
        gid = issuer.grant(account.id, client_id, user)
        token = issuer.mint(account.id, client_id, user_id=user, grant_id=gid)[0]
        if what == "user":
            disable = lambda: issuer.set_status(User, user, "disabled", "user")  # noqa: E731
        else:
            disable = lambda: issuer.set_status(  # noqa: E731
                OAuthClient, client_id, "disabled", "oauth_client"
            )
    me = client.get(ME, headers=bearer(token))
    assert me.status_code == 200, me.text
    disable()
    refused(client, token, "Access token revoked.")


def test_a_revoked_jti_or_grant_is_refused(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    token, claims = issuer.service_token(account.id)
    other, _ = issuer.service_token(account.id)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    issuer.revoke_token(claims)
    refused(client, token, "Access token revoked.")
    assert client.get(ME, headers=bearer(other)).status_code == 200  # only that token

    client_id = issuer.oauth_client(account.id)
    user = issuer.user(account.id)
    gid = issuer.grant(account.id, client_id, user)
    first = issuer.mint(account.id, client_id, user_id=user, grant_id=gid)[0]
    second = issuer.mint(account.id, client_id, user_id=user, grant_id=gid)[0]
    for t in (first, second):
        assert client.get(ME, headers=bearer(t)).status_code == 200
    issuer.revoke_grant(gid)
    refused(client, first, "Access token revoked.")
    refused(client, second, "Access token revoked.")


def test_a_demoted_user_s_token_narrows_at_once(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    client_id = issuer.oauth_client(account.id)
    user = issuer.user(account.id, role="owner")
    gid = issuer.grant(account.id, client_id, user)
    token = issuer.mint(account.id, client_id, user_id=user, grant_id=gid)[0]
    me = client.get(ME, headers=bearer(token)).json()["data"]
    assert me["scopes"] == ["admin"] and me["subject"]["kind"] == "user"
    assert me["subject"]["id"] == user and me["subject"]["client_id"] == client_id
    assert client.get("/api/v2/keys", headers=bearer(token)).status_code == 200
    issuer.set_role(user, "viewer")
    deadline = time.monotonic() + 2
    while client.get("/api/v2/keys", headers=bearer(token)).status_code != 403:
        assert time.monotonic() < deadline, "the demotion did not narrow the token"
        time.sleep(0.02)
    scopes = client.get(ME, headers=bearer(token)).json()["data"]["scopes"]
    assert "admin" not in scopes and "licenses:read" in scopes
    assert "licenses:write" not in scopes


def test_a_token_never_acts_beyond_its_account_mode_or_client(
    client: TestClient, make_account: MakeAccount, issuer: Issuer
) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    sa = issuer.service_account(a.id)
    # Claims naming another account than the service account's, or another mode.
    for token in (
        issuer.mint(b.id, sa)[0],
        issuer.mint(a.id, sa, mode="test")[0],
        issuer.mint(a.id, "service_doesnotexist000000000")[0],
    ):
        resp = client.get(ME, headers=bearer(token))
        assert resp.status_code == 401, resp.text
    # A's token never reaches B's license.
    theirs = client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c-1"}, headers=b.headers
    ).json()["license_key"]
    token = issuer.mint(a.id, sa)[0]
    assert client.get(f"/api/v1/licenses/{theirs}", headers=bearer(token)).status_code == 404


def test_an_account_limit_change_reaches_token_principals(
    client: TestClient, account: AccountFixture, issuer: Issuer, app: FastAPI
) -> None:
    from quantumlock.accounts.service import AccountService

    token, _ = issuer.service_token(account.id)
    assert client.get(ME, headers=bearer(token)).json()["data"]["rate_limit"]["limit"] == 500
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(account.id, requests_per_minute=7, burst=9)
    deadline = time.monotonic() + 2
    while client.get(ME, headers=bearer(token)).json()["data"]["rate_limit"]["limit"] != 9:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_service_account_s_use_is_recorded_but_no_key_s(
    client: TestClient, account: AccountFixture, issuer: Issuer, app: FastAPI
) -> None:
    token, claims = issuer.service_token(account.id)
    runtime = app.state.runtime
    assert client.get(ME, headers=bearer(token)).status_code == 200
    deadline = time.monotonic() + 3  # the flush interval is 0.2 s in tests
    while True:
        with runtime.sessions() as session:
            row = session.get(ServiceAccount, claims.client_id)
            assert row is not None
            if row.last_used_at is not None:
                break
        assert time.monotonic() < deadline, "last_used_at never written"
        time.sleep(0.05)
    with runtime.sessions() as session:
        query = select(ApiKey.last_used_at).where(ApiKey.account_id == account.id)
        used = session.scalars(query).all()
    assert used == [None] * len(used)  # the account's admin key was never used


def _b64(value: object) -> str:
    import base64
    import json

    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_malformed_tokens_are_401_never_500(
    client: TestClient, account: AccountFixture, issuer: Issuer
) -> None:
    from joserfc import jwt

    token, claims = issuer.service_token(account.id)
    key = issuer.signing_key()
    head = {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
    signed_bad_claims = [
        {**claims.to_claims(), "exp": "soon"},
        {**claims.to_claims(), "mode": "prod"},
        {k: v for k, v in claims.to_claims().items() if k != "acct"},
        {**claims.to_claims(), "iat": int(time.time()) + 3600},
    ]
    presented = [jwt.encode(head, c, key) for c in signed_bad_claims]
    body, sig = token.split(".")[1:]
    headers: list[object] = [
        [],
        "x",
        {"kid": 5, "alg": "ES256"},
        {"alg": "HS256", "kid": key.kid},
        {},
    ]
    for header in headers:
        presented.append(f"ey{_b64(header)[2:]}.{body}.{sig}")
    presented += [f"{token.split('.')[0]}.{_b64(b'[]')}.{sig}", token + "x", "ey.x.y"]
    for value in presented:
        resp = client.get(ME, headers=bearer(value))
        assert resp.status_code in (401, 429), (presented.index(value), resp.text)
        if resp.status_code == 401:
            assert resp.json()["code"] == "UNAUTHORIZED"
    # Our own signature on a `scope` that is not a string grants nothing.
    odd = jwt.encode(head, {**claims.to_claims(), "scope": ["admin"]}, key)
    assert client.get(ME, headers=bearer(odd)).json()["data"]["scopes"] == []
