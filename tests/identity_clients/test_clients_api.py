"""/api/v2/oauth-clients and /api/v2/service-accounts over HTTP (in-process ASGI)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy import select

from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import IdentityEvent
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.secret_scan import REGISTRY

SA = "/api/v2/service-accounts"
OC = "/api/v2/oauth-clients"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"] if response.content else None


def check(app: FastAPI, client_id: str, secret: str) -> bool:
    with app.state.runtime.unit_of_work() as session:
        return ClientService(session, app.state.runtime.hasher).check_secret(client_id, secret)


def test_service_account_lifecycle(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    h = account.headers
    made = ok(client.post(SA, json={"name": "ci", "scopes": ["licenses:read"]}, headers=h), 201)
    REGISTRY.add(made["client_secret"])
    cid, secret = made["client_id"], made["client_secret"]
    assert cid.startswith("service_") and secret.startswith("secret_")
    assert made["mode"] == "live" and made["status"] == "active"
    assert made["secret_prefix"] == secret[:11] + "..."
    assert check(app, cid, secret)

    listed = ok(client.get(SA, headers=h))
    assert [s["client_id"] for s in listed["service_accounts"]] == [cid]
    assert secret not in client.get(SA, headers=h).text
    got = ok(client.get(f"{SA}/{cid}", headers=h))
    assert "client_secret" not in got and got["scopes"] == ["licenses:read"]

    patched = ok(client.patch(f"{SA}/{cid}", json={"name": "ci-2"}, headers=h))
    assert patched["name"] == "ci-2"

    rotated = ok(client.post(f"{SA}/{cid}/rotate-secret", json={"grace_period": 0}, headers=h))
    REGISTRY.add(rotated["client_secret"])
    assert rotated["previous_secrets_expire_at"] is None
    assert not check(app, cid, secret) and check(app, cid, rotated["client_secret"])

    assert ok(client.post(f"{SA}/{cid}/disable", headers=h))["status"] == "disabled"
    assert ok(client.post(f"{SA}/{cid}/enable", headers=h))["status"] == "active"
    ok(client.delete(f"{SA}/{cid}", headers=h), 204)
    assert client.get(f"{SA}/{cid}", headers=h).status_code == 404
    assert not check(app, cid, rotated["client_secret"])


def test_oauth_client_lifecycle(client: TestClient, account: AccountFixture) -> None:
    h = account.headers
    body = {
        "name": "portal",
        "redirect_uris": ["https://app.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["licenses:read", "openid", "email"],
    }
    made = ok(client.post(OC, json=body, headers=h), 201)
    REGISTRY.add(made["client_secret"])
    cid = made["client_id"]
    assert made["token_endpoint_auth_method"] == "client_secret_basic"
    assert made["scopes"] == ["licenses:read", "openid", "email"]
    bad = client.patch(f"{OC}/{cid}", json={"redirect_uris": ["http://evil.example/cb"]}, headers=h)
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"
    uri = client.post(OC, json=body | {"jwks_uri": "https://x.example/jwks"}, headers=h)
    assert uri.status_code == 400 and "jwks_uri" in uri.text


def test_idempotent_create_replays_the_same_secret(
    client: TestClient, account: AccountFixture
) -> None:
    headers = account.headers | {"Idempotency-Key": "sa-create-1"}
    body = {"name": "ci", "scopes": ["account:read"]}
    first = client.post(SA, json=body, headers=headers)
    again = client.post(SA, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    REGISTRY.add(first.json()["data"]["client_secret"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(ok(client.get(SA, headers=account.headers))["service_accounts"]) == 1
    other = client.post(SA, json=body | {"name": "other"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_errors_are_ours_never_422(client: TestClient, account: AccountFixture) -> None:
    h = account.headers
    cases = [
        ("POST", SA, {"name": "x", "scopes": []}),
        ("POST", SA, {"name": "x", "scopes": ["nope"]}),
        ("POST", SA, {"name": "", "scopes": ["admin"]}),
        ("POST", SA, {"name": "x", "scopes": ["admin"], "extra": 1}),
        ("POST", OC, {"name": "x", "redirect_uris": ["https://a.example/#f"]}),
        ("POST", OC, {"name": "x", "redirect_uris": [f"https://a.example/{i}" for i in range(11)]}),
        ("POST", OC, {"name": "x", "grant_types": ["implicit"]}),
        ("POST", OC, {"name": "x", "kind": "public", "grant_types": ["client_credentials"]}),
        ("POST", OC, {"name": "x", "token_endpoint_auth_method": "private_key_jwt"}),
        ("POST", OC, {"name": "x", "jwks_uri": "https://a.example/jwks"}),
    ]
    for method, url, body in cases:
        answer = client.request(method, url, json=body, headers=h)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["code"] == "VALIDATION_ERROR"
    made = ok(client.post(SA, json={"name": "x", "scopes": ["admin"]}, headers=h), 201)
    REGISTRY.add(made["client_secret"])
    for grace in (-1, 604801, "1h"):
        answer = client.post(
            f"{SA}/{made['client_id']}/rotate-secret", json={"grace_period": grace}, headers=h
        )
        assert answer.status_code == 400, answer.text
    assert client.get(f"{SA}?limit=0", headers=h).status_code == 400
    assert client.get(f"{SA}?cursor=service_nope", headers=h).status_code == 400


def test_scopes_and_modes(
    client: TestClient, account: AccountFixture, make_account: MakeAccount
) -> None:
    h = account.headers
    restricted = ok(
        client.post("/api/v2/keys", json={"name": "ro", "scopes": ["licenses:read"]}, headers=h),
        201,
    )["key"]
    REGISTRY.add(restricted)
    denied = client.get(SA, headers=bearer(restricted))
    assert denied.status_code == 403 and denied.json()["code"] == "INSUFFICIENT_SCOPE"
    test_admin = ok(
        client.post(
            "/api/v2/keys", json={"name": "t", "type": "test", "scopes": ["admin"]}, headers=h
        ),
        201,
    )["key"]
    REGISTRY.add(test_admin)
    t = bearer(test_admin)
    sandbox = ok(client.post(SA, json={"name": "t", "scopes": ["account:read"]}, headers=t), 201)
    REGISTRY.add(sandbox["client_secret"])
    assert sandbox["mode"] == "test"
    refused = client.post(SA, json={"name": "t", "scopes": ["admin"], "mode": "live"}, headers=t)
    assert refused.status_code == 403
    live = ok(client.post(SA, json={"name": "l", "scopes": ["account:read"]}, headers=h), 201)
    REGISTRY.add(live["client_secret"])
    # A test key sees test-mode ones only; the live admin key manages both (as with API keys).
    assert [s["client_id"] for s in ok(client.get(SA, headers=t))["service_accounts"]] == [
        sandbox["client_id"]
    ]
    assert client.get(f"{SA}/{live['client_id']}", headers=t).status_code == 404
    listed = ok(client.get(SA, headers=h))["service_accounts"]
    assert {s["client_id"] for s in listed} == {sandbox["client_id"], live["client_id"]}
    assert ok(client.post(f"{SA}/{sandbox['client_id']}/disable", headers=h))["mode"] == "test"
    # Another account: 404, as if it did not exist.
    other = make_account(name="Other")
    assert client.get(f"{SA}/{live['client_id']}", headers=other.headers).status_code == 404
    # The other kind's route does not find it either.
    assert client.get(f"{OC}/{live['client_id']}", headers=h).status_code == 404


def test_oauth_client_secrets_and_keys(client: TestClient, account: AccountFixture) -> None:
    h = account.headers
    made = ok(
        client.post(
            OC,
            json={
                "name": "post",
                "grant_types": ["client_credentials"],
                "scopes": ["licenses:read"],
                "token_endpoint_auth_method": "client_secret_post",
            },
            headers=h,
        ),
        201,
    )
    REGISTRY.add(made["client_secret"])
    cid = made["client_id"]
    rotated = ok(client.post(f"{OC}/{cid}/rotate-secret", headers=h))
    REGISTRY.add(rotated["client_secret"])
    assert rotated["previous_secrets_expire_at"] is not None
    got = ok(client.get(f"{OC}/{cid}", headers=h))
    assert len(got["secrets"]) == 2 and got["secrets"][0]["expires_at"] is None
    assert got["secret_prefix"] == rotated["secret_prefix"] != made["secret_prefix"]
    listing = client.get(OC, headers=h).text
    assert made["client_secret"] not in listing and rotated["client_secret"] not in listing
    jwt = ok(
        client.post(
            OC,
            json={
                "name": "jwt",
                "grant_types": ["client_credentials"],
                "scopes": ["licenses:read"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [OKPKey.generate_key("Ed25519").as_dict(private=False)]},
            },
            headers=h,
        ),
        201,
    )
    assert jwt["client_secret"] is None and jwt["secret_prefix"] is None
    conflict = client.post(f"{OC}/{jwt['client_id']}/rotate-secret", headers=h)
    assert conflict.status_code == 409 and conflict.json()["code"] == "CONFLICT"


def test_id_token_signed_response_alg(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    h = account.headers
    body = {"name": "rp", "redirect_uris": ["https://app.example/cb"]}
    plain = ok(client.post(OC, json=body, headers=h), 201)
    REGISTRY.add(plain["client_secret"])
    assert plain["id_token_signed_response_alg"] == "ES256"
    rs = ok(client.post(OC, json=body | {"id_token_signed_response_alg": "RS256"}, headers=h), 201)
    REGISTRY.add(rs["client_secret"])
    assert ok(client.get(f"{OC}/{rs['client_id']}", headers=h))["id_token_signed_response_alg"] == (
        "RS256"
    )

    cid = plain["client_id"]
    changed = ok(client.patch(f"{OC}/{cid}", json={"id_token_signed_response_alg": "RS256"},
                              headers=h))  # fmt: skip
    assert changed["id_token_signed_response_alg"] == "RS256"
    with app.state.runtime.unit_of_work() as session:
        query = select(IdentityEvent.detail).where(
            IdentityEvent.object_id == cid, IdentityEvent.action == "oauth_client.update"
        )
        details = list(session.scalars(query))
    assert details == [{"id_token_signed_response_alg": {"from": "ES256", "to": "RS256"}}]

    for bad in ("HS256", "none", "rs256", "", 256):
        made = client.post(OC, json=body | {"id_token_signed_response_alg": bad}, headers=h)
        patched = client.patch(f"{OC}/{cid}", json={"id_token_signed_response_alg": bad}, headers=h)
        for answer in (made, patched):
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["code"] == "VALIDATION_ERROR"
    assert ok(client.get(f"{OC}/{cid}", headers=h))["id_token_signed_response_alg"] == "RS256"
