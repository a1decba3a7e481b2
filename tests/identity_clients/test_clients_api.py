"""/api/v2/oauth-clients and /api/v2/service-accounts over HTTP (in-process ASGI)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.clients.service import ClientService
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

    events = ok(client.get("/api/v2/audit", headers=h))
    print(events)


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
