"""Errors that say what to do: every 429 says why (`reason`), the monthly quota says when it
resets, and FEATURES_MISSING names the features (issue #18, item 3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import Client, QuotaExceededError
from quantumlock.accounts.service import AccountService
from quantumlock.auth.keys import KeyType, generate_key
from quantumlock.core.clock import isoformat, utcnow
from quantumlock.licensing.service import next_period_start
from tests.api.test_auth_api import assert_error, create_key
from tests.api.test_licenses_api import GEN, VAL, generate, validate
from tests.conftest import AccountFixture, MakeAccount, bearer


def rate_limited(resp: Any) -> dict[str, Any]:
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert body["reason"] == "rate_limit" and "quota_reset_at" not in body, body
    assert body["retry_after"] >= 1 and int(resp.headers["retry-after"]) == body["retry_after"]
    return body


def test_monthly_quota_says_monthly_quota_and_when_it_resets(
    client: TestClient, app: FastAPI, make_account: MakeAccount
) -> None:
    acct = make_account(plan="free")
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(acct.id, licenses_per_month=2)
    app.state.auth.key_cache.clear()
    generate(client, acct.admin_key)
    generate(client, acct.admin_key)
    before = next_period_start(utcnow())
    resp = client.post(GEN, json={"end_customer_id": "c"}, headers=bearer(acct.admin_key))
    after = next_period_start(utcnow())
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert body["detail"] == "Monthly limit reached (2 licenses)."  # the reference's wording
    assert body["reason"] == "monthly_quota"
    # The first instant of the next calendar month, UTC (either side of a month's end).
    assert body["quota_reset_at"] in {isoformat(before), isoformat(after)}
    assert body["quota_reset_at"].endswith("-01T00:00:00Z")
    assert int(resp.headers["x-quota-reset"]) in {int(before.timestamp()), int(after.timestamp())}
    assert int(resp.headers["retry-after"]) == body["retry_after"] >= 1
    # Test mode has no quota: a test key of the same account still generates.
    test_key = create_key(client, acct.admin_key, type="test")["key"]
    for _ in range(3):
        generate(client, test_key)

    # The SDK: its own error, with the reset date, and no retry.
    sdk = Client(api_key=acct.admin_key, base_url="http://testserver", http_client=client)
    with pytest.raises(QuotaExceededError) as info:
        sdk.licenses.generate("c@example.com")
    assert info.value.reset_at in {before, after}
    assert "--licenses-per-month" in str(info.value)


def test_per_minute_limits_say_rate_limit_on_both_families(
    client: TestClient, make_account: MakeAccount
) -> None:
    free = make_account(plan="free")  # /api/v1: 10/min per account, 5 per key; /api/v2: 100
    answers = [client.get("/api/v1/customers/me", headers=bearer(free.admin_key)) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    rate_limited(answers[-1])
    # The validation fast path (served before routing) answers alike.
    validator = create_key(client, free.admin_key, scopes=["licenses:validate"])["key"]
    body = {"license_key": "QLOCK-0000-0000-0000", "end_customer_id": "c@example.com"}
    answers = [client.post(VAL, json=body, headers=bearer(validator)) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    rate_limited(answers[-1])
    v2 = [client.get("/api/v2/me", headers=bearer(free.admin_key)) for _ in range(101)]
    assert v2[-1].status_code == 429
    rate_limited(v2[-1])


def test_the_failed_authentication_guard_says_rate_limit(client: TestClient, app: FastAPI) -> None:
    for _ in range(app.state.runtime.auth_failure_limit.burst):
        client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE)))
    rate_limited(client.get("/api/v2/me", headers=bearer(generate_key(KeyType.LIVE))))
    rate_limited(client.post(VAL, json={}, headers=bearer(generate_key(KeyType.LIVE))))


def test_features_missing_names_the_features(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    lic = generate(client, key, features=["premium", "api_access"])["license_key"]
    missing = validate(client, key, lic, features=["gold", "premium", "sso", "gold"])
    assert (missing["valid"], missing["code"]) == (False, "FEATURES_MISSING")
    assert missing["missing_features"] == ["gold", "sso"]
    assert missing["message"] == "License does not include the required features: gold, sso."
    # Every other answer keeps the reference's shape: no missing_features field.
    assert "missing_features" not in validate(client, key, lic, features=["premium"])
    assert "missing_features" not in validate(client, key, lic, customer="other@example.com")
    sdk = Client(api_key=key, base_url="http://testserver", http_client=client)
    result = sdk.licenses.validate(lic, "customer@company.com", features=["gold", "premium"])
    assert (result.code, result.missing_features) == ("FEATURES_MISSING", ["gold"])
    assert sdk.licenses.validate(lic, "customer@company.com").missing_features is None


def test_openapi_documents_the_429_fields(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    error = doc["components"]["schemas"]["Error"]["properties"]
    assert error["reason"]["enum"] == ["rate_limit", "monthly_quota"]
    assert error["quota_reset_at"] == {**error["quota_reset_at"], "format": "date-time"}
    validate_out = doc["components"]["schemas"]["ValidateOut"]
    assert "missing_features" in validate_out["properties"]
    assert "missing_features" not in validate_out.get("required", [])
    generate_429 = doc["paths"][GEN]["post"]["responses"]["429"]
    assert "monthly_quota" in generate_429["description"]
