"""Authentication, /api/v2/me and the key management API, through the ASGI app."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.auth.service import ApiKeyService
from tests.conftest import AccountFixture, MakeAccount, bearer

ERROR_FIELDS = {"detail", "code", "timestamp", "request_id"}


def create_key(client: TestClient, admin: str, **body: object) -> dict[str, Any]:
    resp = client.post("/api/v2/keys", json={"name": "k", **body}, headers=bearer(admin))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= ERROR_FIELDS, body
    assert body["code"] == code
    assert body["request_id"] == resp.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


def test_me_with_both_header_styles(client: TestClient, account: AccountFixture) -> None:
    a = client.get("/api/v2/me", headers={"Authorization": f"Bearer {account.admin_key}"})
    b = client.get("/api/v2/me", headers={"X-API-Key": account.admin_key})
    assert a.status_code == b.status_code == 200
    data = a.json()["data"]
    assert data["key_id"].startswith("key_")
    assert data == {**b.json()["data"], "rate_limit": data["rate_limit"]}
    assert data["account_id"] == account.id
    assert data["type"] == "live" and data["mode"] == "live"
    assert data["scopes"] == ["admin"]
    assert data["expires_at"] is None
    assert data["rate_limit"]["limit"] == 500  # business plan: 300/min, burst 500
    assert data["rate_limit"]["remaining"] == 499
    assert b.json()["data"]["rate_limit"]["remaining"] == 498
    assert a.headers["x-ratelimit-limit"] == "500"
    assert a.headers["x-ratelimit-remaining"] == "499"
    assert int(a.headers["x-ratelimit-reset"]) >= int(time.time())


def test_bearer_scheme_is_case_insensitive(client: TestClient, account: AccountFixture) -> None:
    resp = client.get("/api/v2/me", headers={"Authorization": f"bearer {account.admin_key}"})
    assert resp.status_code == 200


def test_missing_malformed_and_unknown_keys(client: TestClient, account: AccountFixture) -> None:
    assert_error(client.get("/api/v2/me"), 401, "UNAUTHORIZED")
    typo = account.admin_key[:-1] + ("A" if account.admin_key[-1] != "A" else "B")
    assert_error(client.get("/api/v2/me", headers=bearer(typo)), 401, "UNAUTHORIZED")
    other = create_key(client, account.admin_key)["key"]
    client.delete(
        f"/api/v2/keys/{create_key(client, account.admin_key)['id']}",
        headers=bearer(account.admin_key),
    )
    # A well-formed key that was never issued (valid checksum, unknown hash).
    from quantumlock.auth.keys import KeyType, generate_key

    assert_error(
        client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE))), 401, "UNAUTHORIZED"
    )
    assert client.get("/api/v2/me", headers=bearer(other)).status_code == 200


def test_v1_routes_accept_both_headers_too(client: TestClient, account: AccountFixture) -> None:
    for headers in (bearer(account.admin_key), {"X-API-Key": account.admin_key}):
        resp = client.get("/api/v1/customers/me", headers=headers)
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"id", "name", "email", "plan", "created_at"}
        assert body["id"] == account.id and body["plan"] == "business"
        assert "x-ratelimit-limit" in resp.headers
    assert_error(client.get("/api/v1/customers/me"), 401, "UNAUTHORIZED")


def test_create_list_and_secret_shown_once(client: TestClient, account: AccountFixture) -> None:
    created = create_key(
        client,
        account.admin_key,
        name="production-optimizer",
        scopes=["optimize:read", "optimize:write", "backends:read"],
        expires_in="90d",
    )
    assert created["id"].startswith("key_")
    assert created["key"].startswith("qcos_rkey_")
    assert created["type"] == "restricted"
    assert created["prefix"] == created["key"][:14] + "..."
    assert created["scopes"] == ["optimize:read", "optimize:write", "backends:read"]
    assert created["expires_at"] is not None
    listed = client.get("/api/v2/keys", headers=bearer(account.admin_key))
    assert listed.status_code == 200
    keys = listed.json()["data"]["keys"]
    assert {k["id"] for k in keys} >= {created["id"]}
    for k in keys:
        assert set(k) == {
            "id",
            "name",
            "type",
            "mode",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "metadata",  # the caller's labels (#18); never the secret
        }
    assert created["key"] not in listed.text
    assert account.admin_key not in listed.text


def test_live_and_test_keys_without_scopes_get_everything_but_admin(
    client: TestClient, account: AccountFixture
) -> None:
    live = create_key(client, account.admin_key, type="live")
    assert live["key"].startswith("qcos_live_")
    assert "admin" not in live["scopes"] and "licenses:write" in live["scopes"]
    test = create_key(client, account.admin_key, type="test")
    assert test["key"].startswith("qcos_test_") and test["mode"] == "test"
    assert set(test["scopes"]) == set(live["scopes"])
    plain = create_key(client, account.admin_key)
    assert plain["type"] == "live"


def test_creation_rules(client: TestClient, account: AccountFixture) -> None:
    admin = bearer(account.admin_key)

    def post(body: dict[str, Any], headers: dict[str, str] = admin) -> httpx.Response:
        resp: httpx.Response = client.post("/api/v2/keys", json=body, headers=headers)
        return resp

    assert_error(post({"name": "x", "scopes": ["admin"]}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "scopes": ["nope:read"]}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "scopes": []}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "expires_in": "ninety days"}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "expires_in": "0d"}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": ""}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x" * 101}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "type": "superuser"}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "type": "restricted"}), 400, "VALIDATION_ERROR")
    assert_error(post({"name": "x", "unknown": 1}), 400, "VALIDATION_ERROR")
    assert post({"name": "x" * 100, "type": "live", "scopes": ["admin"]}).status_code == 201

    # A key can never grant what it lacks; key management needs admin.
    limited = create_key(client, account.admin_key, type="live", scopes=["licenses:read"])
    assert_error(
        post({"name": "x", "scopes": ["licenses:read"]}, bearer(limited["key"])),
        403,
        "INSUFFICIENT_SCOPE",
    )
    everything = create_key(client, account.admin_key, type="live")
    assert_error(
        post({"name": "x", "scopes": ["licenses:read"]}, bearer(everything["key"])),
        403,
        "INSUFFICIENT_SCOPE",
    )


def test_test_mode_admin_cannot_create_live_keys(
    client: TestClient, account: AccountFixture
) -> None:
    test_admin = create_key(client, account.admin_key, type="test", scopes=["admin"])["key"]
    resp = client.post(
        "/api/v2/keys", json={"name": "x", "type": "live"}, headers=bearer(test_admin)
    )
    assert_error(resp, 403, "INSUFFICIENT_SCOPE")
    made = client.post("/api/v2/keys", json={"name": "x"}, headers=bearer(test_admin))
    assert made.status_code == 201 and made.json()["data"]["mode"] == "test"
    restricted = client.post(
        "/api/v2/keys", json={"name": "r", "scopes": ["licenses:read"]}, headers=bearer(test_admin)
    ).json()["data"]
    assert restricted["type"] == "restricted" and restricted["mode"] == "test"
    # Test keys see only test-mode keys.
    listed = client.get("/api/v2/keys", headers=bearer(test_admin)).json()["data"]["keys"]
    assert listed and all(k["mode"] == "test" for k in listed)


def test_restricted_key_is_refused_outside_its_scopes(
    client: TestClient, account: AccountFixture
) -> None:
    key = create_key(client, account.admin_key, scopes=["optimize:read"])["key"]
    assert client.get("/api/v2/me", headers=bearer(key)).status_code == 200
    body = assert_error(client.get("/api/v2/keys", headers=bearer(key)), 403, "INSUFFICIENT_SCOPE")
    assert "admin" in body["detail"]
    assert_error(client.get("/api/v1/customers/me", headers=bearer(key)), 403, "INSUFFICIENT_SCOPE")


def test_revocation_is_immediate(client: TestClient, account: AccountFixture) -> None:
    key = create_key(client, account.admin_key)
    assert client.get("/api/v2/me", headers=bearer(key["key"])).status_code == 200
    resp = client.delete(f"/api/v2/keys/{key['id']}", headers=bearer(account.admin_key))
    assert resp.status_code == 204 and resp.content == b""
    assert_error(client.get("/api/v2/me", headers=bearer(key["key"])), 401, "KEY_REVOKED")
    # Idempotent, and gone from the list.
    assert (
        client.delete(f"/api/v2/keys/{key['id']}", headers=bearer(account.admin_key)).status_code
        == 204
    )
    ids = [
        k["id"]
        for k in client.get("/api/v2/keys", headers=bearer(account.admin_key)).json()["data"][
            "keys"
        ]
    ]
    assert key["id"] not in ids


def test_revocation_by_another_process_reaches_this_one(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """The CLI (or another node) writes to the database; this process hears of it."""
    key = create_key(client, account.admin_key)
    assert client.get("/api/v2/me", headers=bearer(key["key"])).status_code == 200  # now cached
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        ApiKeyService(session, runtime.hasher).revoke_by_id(key["id"])
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if client.get("/api/v2/me", headers=bearer(key["key"])).status_code == 401:
            break
        time.sleep(0.02)
    assert_error(client.get("/api/v2/me", headers=bearer(key["key"])), 401, "KEY_REVOKED")


def test_expired_key(client: TestClient, account: AccountFixture) -> None:
    key = create_key(client, account.admin_key, expires_in="1s")
    assert client.get("/api/v2/me", headers=bearer(key["key"])).status_code == 200
    time.sleep(1.05)
    assert_error(client.get("/api/v2/me", headers=bearer(key["key"])), 401, "KEY_EXPIRED")


def test_rotation(client: TestClient, account: AccountFixture) -> None:
    old = create_key(
        client, account.admin_key, name="svc", scopes=["licenses:read"], expires_in="30d"
    )
    resp = client.post(
        f"/api/v2/keys/{old['id']}/rotate",
        json={"grace_period": "24h"},
        headers=bearer(account.admin_key),
    )
    assert resp.status_code == 201, resp.text
    new = resp.json()["data"]
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert (new["name"], new["scopes"], new["type"]) == (old["name"], old["scopes"], old["type"])
    assert new["rotated_from"] == old["id"]
    assert new["expires_at"] == old["expires_at"]  # rotation never extends a key's life
    # Both work during the grace period.
    assert client.get("/api/v2/me", headers=bearer(old["key"])).status_code == 200
    assert client.get("/api/v2/me", headers=bearer(new["key"])).status_code == 200
    # A zero grace period ends the old key at once.
    again = client.post(
        f"/api/v2/keys/{new['id']}/rotate",
        json={"grace_period": "0s"},
        headers=bearer(account.admin_key),
    )
    assert again.status_code == 201
    assert_error(client.get("/api/v2/me", headers=bearer(new["key"])), 401, "KEY_EXPIRED")
    assert_error(
        client.post(f"/api/v2/keys/{new['id']}/rotate", json={}, headers=bearer(account.admin_key)),
        409,
        "CONFLICT",
    )
    assert_error(
        client.post(
            f"/api/v2/keys/{old['id']}/rotate",
            json={"grace_period": "soon"},
            headers=bearer(account.admin_key),
        ),
        400,
        "VALIDATION_ERROR",
    )


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_an_empty_expires_in_is_refused(client: TestClient, account: AccountFixture) -> None:
    """Issue #16 finding 10: `{"expires_in": ""}` created a key that never expires."""
    resp = client.post(
        "/api/v2/keys", json={"name": "x", "expires_in": ""}, headers=bearer(account.admin_key)
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert "expires_in" in body["detail"]
    keys = client.get("/api/v2/keys", headers=bearer(account.admin_key)).json()["data"]["keys"]
    assert "x" not in {k["name"] for k in keys}


def test_a_created_key_never_outlives_its_creator(
    client: TestClient, account: AccountFixture
) -> None:
    """Issue #16 finding 9: a key expiring in 1 h created a key that never expires."""
    admin = {"type": "live", "scopes": ["admin"]}
    short = create_key(client, account.admin_key, **admin, expires_in="1h")
    ceiling = parse_time(short["expires_at"])
    # No expires_in: the new key expires with its creator (clamped).
    child = create_key(client, short["key"], name="child", **admin)
    assert parse_time(child["expires_at"]) == ceiling
    grandchild = create_key(client, child["key"], name="grandchild", scopes=["account:read"])
    assert parse_time(grandchild["expires_at"]) == ceiling
    # An explicit expiry beyond the creator's is refused, not silently shortened.
    resp = client.post(
        "/api/v2/keys", json={"name": "long", "expires_in": "2h"}, headers=bearer(short["key"])
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert "outlive" in body["detail"]
    # A shorter one is kept as asked.
    brief = create_key(client, short["key"], name="brief", expires_in="10m")
    assert parse_time(brief["expires_at"]) < ceiling
    # A key that never expires may still create keys that never expire.
    assert create_key(client, account.admin_key, name="forever")["expires_at"] is None


def test_rotation_never_extends_a_keys_life(client: TestClient, account: AccountFixture) -> None:
    """Issue #16 finding 9: rotation restarted the lifetime; and a rotated key must not
    outlive the key that rotates it."""
    one_hour = create_key(client, account.admin_key, name="svc", expires_in="1h")
    rotated = client.post(
        f"/api/v2/keys/{one_hour['id']}/rotate",
        json={"grace_period": "0s"},
        headers=bearer(account.admin_key),
    ).json()["data"]
    assert rotated["expires_at"] == one_hour["expires_at"]
    # A 10-minute admin key rotating a key that never expires: the new one ends with it.
    forever = create_key(client, account.admin_key, name="forever")
    brief = create_key(
        client, account.admin_key, name="brief", type="live", scopes=["admin"], expires_in="10m"
    )
    resp = client.post(
        f"/api/v2/keys/{forever['id']}/rotate", json={}, headers=bearer(brief["key"])
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["expires_at"] == brief["expires_at"]


def test_rotate_without_body_uses_default_grace(
    client: TestClient, account: AccountFixture
) -> None:
    old = create_key(client, account.admin_key)
    resp = client.post(f"/api/v2/keys/{old['id']}/rotate", headers=bearer(account.admin_key))
    assert resp.status_code == 201
    assert client.get("/api/v2/me", headers=bearer(old["key"])).status_code == 200


def test_another_tenants_key_is_not_found(client: TestClient, make_account: MakeAccount) -> None:
    alice, mallory = make_account(), make_account(name="Mallory")
    victim = create_key(client, alice.admin_key)
    for resp in (
        client.delete(f"/api/v2/keys/{victim['id']}", headers=bearer(mallory.admin_key)),
        client.post(
            f"/api/v2/keys/{victim['id']}/rotate", json={}, headers=bearer(mallory.admin_key)
        ),
    ):
        assert_error(resp, 404, "NOT_FOUND")
    assert client.get("/api/v2/me", headers=bearer(victim["key"])).status_code == 200
    mallory_list = client.get("/api/v2/keys", headers=bearer(mallory.admin_key)).text
    assert victim["id"] not in mallory_list


def test_last_used_at_is_recorded_without_a_write_per_request(
    client: TestClient, account: AccountFixture
) -> None:
    key = create_key(client, account.admin_key)
    assert key["last_used_at"] is None
    client.get("/api/v2/me", headers=bearer(key["key"]))
    keys = client.get("/api/v2/keys", headers=bearer(account.admin_key)).json()["data"]["keys"]
    assert next(k for k in keys if k["id"] == key["id"])["last_used_at"] is not None


def test_brute_force_guard_per_client_address(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    limit = app.state.runtime.auth_failure_limit
    from quantumlock.auth.keys import KeyType, generate_key

    for _ in range(limit.burst):
        assert (
            client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE))).status_code == 401
        )
    resp = client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE)))
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert body["retry_after"] >= 1 and int(resp.headers["retry-after"]) >= 1
    # Typos (bad checksum) cost no database lookup, blocked or not.
    registry = app.state.runtime.metrics.registry
    misses = registry.get_sample_value("quantumlock_key_cache_total", {"result": "miss"})
    assert client.get("/api/v2/me", headers=bearer(account.admin_key[:-1] + "!")).status_code == 429
    after = registry.get_sample_value("quantumlock_key_cache_total", {"result": "miss"})
    assert after == misses


def test_the_guard_never_refuses_a_valid_key(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """Issue #16 finding 3: after 30 bad keys from one address, that address's valid keys
    got 429 too (one client behind a NAT locked out everyone behind it)."""
    from quantumlock.auth.keys import KeyType, generate_key

    cached = create_key(client, account.admin_key, scopes=["account:read"])["key"]
    assert client.get("/api/v2/me", headers=bearer(cached)).status_code == 200
    uncached = create_key(client, account.admin_key, scopes=["licenses:validate"])["key"]
    test_key = create_key(client, account.admin_key, type="test")["key"]
    for _ in range(app.state.runtime.auth_failure_limit.burst + 5):
        client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE)))
    unknown = client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE)))
    assert_error(unknown, 429, "RATE_LIMIT_EXCEEDED")
    app.state.auth.key_cache.clear()  # also a key never seen by this node
    assert client.get("/api/v2/me", headers=bearer(cached)).status_code == 200
    for key in (account.admin_key, cached, uncached, test_key):
        for _ in range(3):
            resp = client.get("/api/v2/me", headers=bearer(key))
            assert resp.status_code == 200, resp.text
    validate = client.post(
        "/api/v1/licenses/validate",
        json={"license_key": "QLOCK-0000-0000-0000", "end_customer_id": "c@example.com"},
        headers=bearer(uncached),
    )
    assert validate.status_code == 200
    # The address's unknown keys are still refused.
    unknown = client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE)))
    assert_error(unknown, 429, "RATE_LIMIT_EXCEEDED")


def test_openapi_declares_scopes_and_both_header_styles(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"
    create = spec["paths"]["/api/v2/keys"]["post"]
    assert {"HTTPBearer": ["admin"]} in create["security"]
    assert {"APIKeyHeader": ["admin"]} in create["security"]
    customers = spec["paths"]["/api/v1/customers/me"]["get"]
    assert {"APIKeyHeader": ["account:read"]} in customers["security"]
