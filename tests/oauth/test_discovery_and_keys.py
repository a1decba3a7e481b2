"""Discovery documents (validated by Authlib's RFC 8414 / OIDC Discovery models), the JWKS,
signing-key rotation reaching a running server, and the token endpoint's rate limit."""

from __future__ import annotations

import time
from pathlib import Path

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from quantumlock.app import create_app
from quantumlock.identity.signing import SigningKeyService
from quantumlock.settings import Settings
from tests.conftest import MASTER_KEY, AccountFixture
from tests.oauth.support import make_service_account

CC = {"grant_type": "client_credentials"}


def test_discovery_documents_are_valid_with_an_https_issuer(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
                        issuer="https://auth.example.com/")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        oidc = client.get("/.well-known/openid-configuration")
        rfc8414 = client.get("/.well-known/oauth-authorization-server")
    assert oidc.status_code == 200 and rfc8414.status_code == 200
    OpenIDProviderMetadata(oidc.json()).validate()
    AuthorizationServerMetadata(rfc8414.json()).validate()
    doc = oidc.json()
    assert doc["issuer"] == "https://auth.example.com"
    assert doc["token_endpoint"] == "https://auth.example.com/oauth/token"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials"}  # fmt: skip
    assert {"private_key_jwt", "client_secret_basic", "client_secret_post", "none"} == set(
        doc["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "offline_access", "admin", "licenses:read"} <= set(doc["scopes_supported"])


def test_jwks_publishes_es256_and_rs256_and_a_rotation_reaches_the_server(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    sa = make_service_account(app, account.id, ["account:read"])
    jwks = client.get("/oauth/jwks").json()
    # Both algorithms are published. Not exactly one key each: the test database is shared by
    # the worker's tests (database_url is session-scoped), so keys that earlier tests rotated
    # are still published, verify-only.
    assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    assert all("d" not in k for k in jwks["keys"])  # public halves only
    before = client.post("/oauth/token", data=CC, headers=sa.basic()).json()["access_token"]
    old_kid = jwt.decode(before, KeySet.import_key_set(jwks)).header["kid"]
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:  # as `quantumlock oauth signing-keys rotate` does
        new_kid = SigningKeyService(session, runtime.sealer).rotate("ES256").kid
    deadline = time.monotonic() + 5
    while True:
        after = client.post("/oauth/token", data=CC, headers=sa.basic()).json()["access_token"]
        keys = KeySet.import_key_set(client.get("/oauth/jwks").json())
        if jwt.decode(after, keys).header["kid"] == new_kid or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert jwt.decode(after, keys).header["kid"] == new_kid
    assert jwt.decode(before, keys).header["kid"] == old_kid  # the old key still verifies


def test_token_endpoint_rate_limit_answers_oauth_shaped_429(
    database_url: str, tmp_path: Path, make_account: object
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
                        oauth_token_per_minute=1, oauth_token_burst=2)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.post("/oauth/token", data={**CC, "client_id": "service_x"}).status_code
            for _ in range(3)
        ]
        last = client.post("/oauth/token", data=CC)
    assert statuses == [401, 401, 429]
    assert last.status_code == 429 and last.json()["error"] == "temporarily_unavailable"
    assert int(last.headers["retry-after"]) >= 1
