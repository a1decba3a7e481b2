"""Rate limits through the app: /api/v2 per key, /api/v1 per account and mode."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import AccountFixture, bearer


def drain(client: TestClient, path: str, key: str, n: int) -> list[int]:
    return [client.get(path, headers=bearer(key)).status_code for _ in range(n)]


def test_test_keys_get_burst_50_on_v2(client: TestClient, account: AccountFixture) -> None:
    key = create_key(client, account.admin_key, type="test")["key"]
    statuses = drain(client, "/api/v2/me", key, 50)
    assert statuses == [200] * 50
    resp = client.get("/api/v2/me", headers=bearer(key))
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["x-ratelimit-limit"] == "50"
    assert resp.headers["x-ratelimit-remaining"] == "0"
    assert int(resp.headers["retry-after"]) == body["retry_after"] == 2  # 30/min: one every 2 s
    assert int(resp.headers["x-ratelimit-reset"]) > time.time()
    # Another key of the same account has its own bucket on /api/v2.
    assert client.get("/api/v2/me", headers=bearer(account.admin_key)).status_code == 200


def test_free_plan_v2_is_100_burst(client: TestClient, make_account) -> None:  # type: ignore[no-untyped-def]
    free = make_account(plan="free")
    resp = client.get("/api/v2/me", headers=bearer(free.admin_key))
    assert resp.headers["x-ratelimit-limit"] == "100"


def test_v1_is_per_account_and_mode(client: TestClient, make_account) -> None:  # type: ignore[no-untyped-def]
    free = make_account(plan="free")  # /api/v1: 10 per minute, burst 10
    other = create_key(client, free.admin_key, type="live", scopes=["account:read"])["key"]
    statuses = drain(client, "/api/v1/customers/me", free.admin_key, 6)
    statuses += drain(client, "/api/v1/customers/me", other, 4)
    assert statuses == [200] * 10
    assert_error(
        client.get("/api/v1/customers/me", headers=bearer(other)), 429, "RATE_LIMIT_EXCEEDED"
    )
    # Test mode has its own bucket (30/min, burst 50).
    test_key = create_key(client, free.admin_key, type="test")["key"]
    resp = client.get("/api/v1/customers/me", headers=bearer(test_key))
    assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "50"
    # /api/v2 is counted separately from /api/v1.
    assert client.get("/api/v2/me", headers=bearer(free.admin_key)).status_code == 200


def test_limit_changes_reach_a_running_server_within_a_second(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    assert (
        client.get("/api/v2/me", headers=bearer(account.admin_key)).headers["x-ratelimit-limit"]
        == "500"
    )
    with app.state.runtime.sessions() as session:  # as `quantumlock accounts set-limits` does
        AccountService(session).set_limits(account.id, requests_per_minute=120, burst=7)
    deadline = time.monotonic() + 1.0
    limit = None
    while time.monotonic() < deadline:
        limit = client.get("/api/v2/me", headers=bearer(account.admin_key)).headers[
            "x-ratelimit-limit"
        ]
        if limit == "7":
            break
        time.sleep(0.02)
    assert limit == "7"


def test_errors_after_authentication_carry_limit_headers(
    client: TestClient, account: AccountFixture
) -> None:
    key = create_key(client, account.admin_key, scopes=["optimize:read"])["key"]
    resp = client.get("/api/v2/keys", headers=bearer(key))
    assert resp.status_code == 403
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(resp.headers)
