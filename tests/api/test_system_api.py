from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from quantumlock import __version__
from tests.conftest import AccountFixture, bearer


def test_health_needs_no_auth(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": __version__, "database": "ok"}


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
    out = capfd.readouterr().out
    assert account.admin_key not in out
    assert account.admin_key[:-2] not in out
    assert created.json()["data"]["key"] not in out
    assert f'"account_id": "{account.id}"' in out and '"route": "/api/v2/me"' in out
    assert '"latency_ms"' in out and '"request_id": "req_' in out
