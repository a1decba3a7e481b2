"""Rate limits through the app: /api/v2 per key, /api/v1 per account and mode."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import AccountFixture, MakeAccount, bearer


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


def test_free_plan_v2_is_100_burst(client: TestClient, make_account: MakeAccount) -> None:
    free = make_account(plan="free")
    resp = client.get("/api/v2/me", headers=bearer(free.admin_key))
    assert resp.headers["x-ratelimit-limit"] == "100"


def test_v1_is_per_account_and_mode(client: TestClient, make_account: MakeAccount) -> None:
    free = make_account(plan="free")  # /api/v1: 10 per minute, burst 10; 5 per key
    keys = [free.admin_key] + [
        create_key(client, free.admin_key, type="live", scopes=["account:read"])["key"]
        for _ in range(2)
    ]
    statuses = drain(client, "/api/v1/customers/me", keys[0], 5)
    statuses += drain(client, "/api/v1/customers/me", keys[1], 5)
    assert statuses == [200] * 10
    # The account's ceiling holds for a key that has not used its own share.
    resp = client.get("/api/v1/customers/me", headers=bearer(keys[2]))
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["x-ratelimit-limit"] == "10"
    # Test mode has its own bucket (30/min, burst 50; 25 per key).
    test_key = create_key(client, free.admin_key, type="test")["key"]
    resp = client.get("/api/v1/customers/me", headers=bearer(test_key))
    assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "25"
    # /api/v2 is counted separately from /api/v1.
    assert client.get("/api/v2/me", headers=bearer(free.admin_key)).status_code == 200


def test_a_shipped_validate_key_cannot_starve_the_accounts_other_keys(
    client: TestClient, make_account: MakeAccount
) -> None:
    """Issue #16 finding 2: 1,100 validations with the shipped validate-only key made the
    vendor's admin `generate` answer 429. Each key now gets half the account's ceiling."""
    startup = make_account(plan="startup")  # /api/v1: 100 per minute, burst 100
    shipped = create_key(client, startup.admin_key, scopes=["licenses:validate"])["key"]
    body = {"license_key": "QLOCK-0000-0000-0000", "end_customer_id": "c@example.com"}
    answers = [
        client.post("/api/v1/licenses/validate", json=body, headers=bearer(shipped))
        for _ in range(120)
    ]
    assert [r.status_code for r in answers] == [200] * 50 + [429] * 70
    assert answers[0].headers["x-ratelimit-limit"] == "50"  # its own share: the tighter one
    refused = assert_error(answers[-1], 429, "RATE_LIMIT_EXCEEDED")
    assert "share" in refused["detail"] and answers[-1].headers["x-ratelimit-remaining"] == "0"
    generated = client.post(
        "/api/v1/licenses/generate",
        json={"end_customer_id": "c@example.com", "features": ["basic"]},
        headers=bearer(startup.admin_key),
    )
    assert generated.status_code == 201, generated.text
    # The headers describe the tighter bucket: the account's (what the shipped key left,
    # 100 - 50 - 1, plus any refill since) or the admin key's own share (50 - 1).
    assert generated.headers["x-ratelimit-limit"] in {"50", "100"}
    assert generated.headers["x-ratelimit-remaining"] == "49"


def test_a_raised_limit_applies_to_a_drained_bucket_at_once(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """Issue #16 finding 17: after a burst of 100 at 60/min, raising the limit to 100,000
    still answered 429 for ~40 s (the old bucket read under the new rate)."""
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(account.id, requests_per_minute=60, burst=100)
    second = create_key(client, account.admin_key, scopes=["account:read"])["key"]
    deadline = time.monotonic() + 1.0
    while client.get("/api/v1/customers/me", headers=bearer(second)).headers[
        "x-ratelimit-limit"
    ] not in {"50", "100"}:  # the new limit (or the key's share of it) has arrived
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for key in (account.admin_key, second):
        while client.get("/api/v1/customers/me", headers=bearer(key)).status_code == 200:
            pass
    assert client.get("/api/v1/customers/me", headers=bearer(second)).status_code == 429
    with app.state.runtime.unit_of_work() as session:  # as `quantumlock accounts set-limits` does
        AccountService(session).set_limits(account.id, requests_per_minute=100_000, burst=100_000)
    started = time.monotonic()
    while (resp := client.get("/api/v1/customers/me", headers=bearer(second))).status_code != 200:
        assert resp.status_code == 429
        assert time.monotonic() - started < 1.0, "the raised limit did not apply within 1 s"
        time.sleep(0.02)
    assert resp.headers["x-ratelimit-limit"] == "50000"


def test_limit_changes_reach_a_running_server_within_a_second(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    assert (
        client.get("/api/v2/me", headers=bearer(account.admin_key)).headers["x-ratelimit-limit"]
        == "500"
    )
    with app.state.runtime.unit_of_work() as session:  # as `quantumlock accounts set-limits` does
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
