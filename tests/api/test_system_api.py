from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from quantumlock import __version__
from quantumlock.observability.logging import flush_logs
from tests.conftest import AccountFixture, bearer


def test_health_needs_no_auth(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    # The shared test database may or may not hold a canary (sealed under the tests' key).
    assert resp.json()["master_key"] in {"ok", "no canary"}
    expected = {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "master_key": resp.json()["master_key"],
        "redis": "not configured",
    }
    assert resp.json() == expected
    assert client.get("/health/ready").json() == expected
    assert client.get("/health/live").json() == {"status": "ok", "version": __version__}


def test_metrics_count_requests_limits_and_auth_failures(
    client: TestClient, account: AccountFixture
) -> None:
    client.get("/api/v2/me", headers=bearer(account.admin_key))
    client.get("/api/v2/me", headers=bearer("qcos_live_nope"))
    text = client.get("/metrics").text
    assert 'quantumlock_http_requests_total{method="GET",route="/api/v2/me",status="200"}' in text
    assert 'quantumlock_auth_failures_total{code="UNAUTHORIZED"} 1.0' in text
    assert "quantumlock_http_request_duration_seconds_bucket" in text
    assert "quantumlock_rate_limited_total" in text


def test_docs_need_no_auth(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_access_log_has_context_and_never_a_secret(
    client: TestClient, account: AccountFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    client.get("/api/v2/me", headers=bearer(account.admin_key))
    created = client.post("/api/v2/keys", json={"name": "k"}, headers=bearer(account.admin_key))
    client.get("/api/v2/me", headers={"X-API-Key": account.admin_key[:-2] + "xx"})
    flush_logs()  # the server flushes every 0.5 s; the test does not wait for it
    out = capfd.readouterr().out
    assert account.admin_key not in out
    assert account.admin_key[:-2] not in out
    assert created.json()["data"]["key"] not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    me = [entry for entry in lines if entry.get("route") == "/api/v2/me" and entry["status"] == 200]
    assert me, out
    assert me[0]["account_id"] == account.id and me[0]["key_id"].startswith("key_")
    assert me[0]["request_id"].startswith("req_") and me[0]["latency_ms"] > 0
    assert me[0]["method"] == "GET" and me[0]["level"] == "info"


def test_metrics_count_validation_cache_hits_and_misses(
    client: TestClient, account: AccountFixture
) -> None:
    made = client.post(
        "/api/v1/licenses/generate", headers=account.headers, json={"end_customer_id": "c-1"}
    ).json()
    body = {"license_key": made["license_key"], "end_customer_id": "c-1"}
    for _ in range(3):
        assert client.post("/api/v1/licenses/validate", headers=account.headers, json=body).json()[
            "valid"
        ]
    text = client.get("/metrics").text
    assert 'quantumlock_validation_cache_total{result="miss"} 1.0' in text
    assert 'quantumlock_validation_cache_total{result="hit"} 2.0' in text
