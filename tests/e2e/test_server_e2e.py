"""End to end: the CLI and the real server process, as an operator and a vendor use them."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for(check: Callable[[], object], timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def test_key_lifecycle_through_cli_and_api(server: Server) -> None:
    created = server.cli_json(
        "accounts", "create", "--name", "ACME Corp", "--email", "ops@acme.example"
    )
    assert isinstance(created, dict) and set(created) == {"id", "api_key"}
    assert created["id"].startswith("cust_") and created["api_key"].startswith("qcos_live_")
    admin = created["api_key"]

    with server.client() as http:
        # /me with both header styles.
        a = http.get("/api/v2/me", headers=bearer(admin))
        b = http.get("/api/v2/me", headers={"X-API-Key": admin})
        assert a.status_code == b.status_code == 200
        assert a.json()["data"]["key_id"] == b.json()["data"]["key_id"]
        assert a.json()["data"]["scopes"] == ["admin"]
        assert a.headers["x-request-id"]

        # Create, list, rotate, revoke.
        made = http.post(
            "/api/v2/keys",
            headers=bearer(admin),
            json={"name": "ci", "scopes": ["licenses:read"], "expires_in": "90d"},
        )
        assert made.status_code == 201
        restricted = made.json()["data"]
        assert restricted["key"].startswith("qcos_rkey_")
        listed = http.get("/api/v2/keys", headers=bearer(admin))
        assert restricted["id"] in listed.text and restricted["key"] not in listed.text

        rotated = http.post(
            f"/api/v2/keys/{restricted['id']}/rotate",
            headers=bearer(admin),
            json={"grace_period": "0s"},
        )
        assert rotated.status_code == 201
        new_key = rotated.json()["data"]["key"]
        assert http.get("/api/v2/me", headers=bearer(new_key)).status_code == 200
        old = http.get("/api/v2/me", headers=bearer(restricted["key"]))
        assert old.status_code == 401 and old.json()["code"] == "KEY_EXPIRED"

        # Restricted key outside its scopes.
        refused = http.get("/api/v2/keys", headers=bearer(new_key))
        assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"

        # Revoked through the API.
        new_id = rotated.json()["data"]["id"]
        assert http.delete(f"/api/v2/keys/{new_id}", headers=bearer(admin)).status_code == 204
        revoked = http.get("/api/v2/me", headers=bearer(new_key))
        assert revoked.status_code == 401 and revoked.json()["code"] == "KEY_REVOKED"

        # Expired by its own expiry.
        short = http.post(
            "/api/v2/keys", headers=bearer(admin), json={"name": "short", "expires_in": "1s"}
        )
        short_key = short.json()["data"]["key"]
        assert http.get("/api/v2/me", headers=bearer(short_key)).status_code == 200
        time.sleep(1.1)
        expired = http.get("/api/v2/me", headers=bearer(short_key))
        assert expired.status_code == 401 and expired.json()["code"] == "KEY_EXPIRED"


def test_burst_past_the_limit_is_429_with_headers(server: Server) -> None:
    created = server.cli_json("accounts", "create", "--name", "Burst", "--email", "b@example.com")
    assert isinstance(created, dict)
    test_key = server.cli_json(
        "keys", "create", "--account", created["id"], "--name", "sandbox", "--type", "test"
    )
    assert isinstance(test_key, dict) and test_key["key"].startswith("qcos_test_")
    with server.client() as http:
        statuses = [
            http.get("/api/v2/me", headers=bearer(test_key["key"])).status_code for _ in range(50)
        ]
        assert statuses == [200] * 50
        resp = http.get("/api/v2/me", headers=bearer(test_key["key"]))
    assert resp.status_code == 429
    body = resp.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    # `reason` tells a per-minute limit from the monthly quota (#18).
    assert set(body) == {"detail", "code", "timestamp", "request_id", "retry_after", "reason"}
    assert body["reason"] == "rate_limit"
    assert resp.headers["retry-after"] == str(body["retry_after"]) == "2"
    assert resp.headers["x-ratelimit-limit"] == "50"
    assert resp.headers["x-ratelimit-remaining"] == "0"
    assert int(resp.headers["x-ratelimit-reset"]) > time.time()


def test_cli_changes_reach_the_running_server_within_a_second(server: Server) -> None:
    created = server.cli_json(
        "accounts", "create", "--name", "Ops", "--email", "o@example.com", "--plan", "startup"
    )
    assert isinstance(created, dict)
    key = server.cli_json("keys", "create", "--account", created["id"], "--name", "svc")
    assert isinstance(key, dict)
    listed = server.cli_json("keys", "list", "--account", created["id"])
    assert isinstance(listed, list) and {k["id"] for k in listed} >= {key["id"]}
    assert all("key" not in k for k in listed)
    with server.client() as http:
        me = http.get("/api/v2/me", headers=bearer(key["key"]))
        assert me.headers["x-ratelimit-limit"] == "500"

        server.cli(
            "accounts", "set-limits", created["id"], "--requests-per-minute", "60", "--burst", "5"
        )
        assert wait_for(
            lambda: (
                http.get("/api/v2/me", headers=bearer(key["key"])).headers["x-ratelimit-limit"]
                == "5"
            )
        )

        server.cli("keys", "revoke", key["id"])
        assert wait_for(
            lambda: http.get("/api/v2/me", headers=bearer(key["key"])).status_code == 401
        )
        assert http.get("/api/v2/me", headers=bearer(key["key"])).json()["code"] == "KEY_REVOKED"


def test_cli_rotate(server: Server) -> None:
    created = server.cli_json("accounts", "create", "--name", "Rot", "--email", "r@example.com")
    assert isinstance(created, dict)
    key = server.cli_json(
        "keys",
        "create",
        "--account",
        created["id"],
        "--name",
        "svc",
        "--scopes",
        "licenses:read,licenses:validate",
        "--expires-in",
        "30d",
    )
    assert isinstance(key, dict) and key["type"] == "restricted"
    rotated = server.cli_json("keys", "rotate", key["id"], "--grace-period", "1h")
    assert isinstance(rotated, dict) and rotated["rotated_from"] == key["id"]
    assert rotated["scopes"] == key["scopes"]
    with server.client() as http:
        assert http.get("/api/v2/me", headers=bearer(rotated["key"])).status_code == 200
        assert http.get("/api/v2/me", headers=bearer(key["key"])).status_code == 200  # grace


def test_cli_reports_errors_cleanly(server: Server) -> None:
    bad = server.cli("keys", "create", "--account", "cust_nope", "--name", "x", check=False)
    assert bad.returncode == 1 and "NOT_FOUND" in bad.stderr and "Traceback" not in bad.stderr
    created = server.cli_json("accounts", "create", "--name", "E", "--email", "e@example.com")
    assert isinstance(created, dict)
    bad_scope = server.cli(
        "keys",
        "create",
        "--account",
        created["id"],
        "--name",
        "x",
        "--scopes",
        "admin",
        check=False,
    )
    assert bad_scope.returncode == 1 and "VALIDATION_ERROR" in bad_scope.stderr


def test_server_log_never_holds_a_key(server: Server) -> None:
    created = server.cli_json("accounts", "create", "--name", "Log", "--email", "l@example.com")
    assert isinstance(created, dict)
    with server.client() as http:
        http.get("/api/v2/me", headers=bearer(created["api_key"]))
        http.get("/api/v2/me", headers={"X-API-Key": created["api_key"][:-1] + "0"})
    time.sleep(0.8)  # access lines are flushed every 0.5 s
    log = server.log_path.read_text()
    assert '"route":"/api/v2/me"' in log
    assert created["api_key"][10:40] not in log


def test_health_and_metrics(server: Server) -> None:
    health = httpx.get(server.base_url + "/health")
    assert health.json()["status"] == "ok" and health.json()["database"] == "ok"
    assert "quantumlock_http_requests_total" in httpx.get(server.base_url + "/metrics").text


def test_sdk_against_the_real_server(server: Server) -> None:
    from qcos import AuthenticationError, Client, RateLimitError

    created = server.cli_json("accounts", "create", "--name", "SDK", "--email", "s@example.com")
    assert isinstance(created, dict)
    with Client(api_key=created["api_key"], base_url=server.base_url) as sdk:
        assert sdk.me().account_id == created["id"]
        test_key = sdk.keys.create("sandbox", type="test")
        new = sdk.keys.rotate(test_key.id, grace_period="0s")
        with Client(api_key=test_key.key, base_url=server.base_url) as old:
            with pytest.raises(AuthenticationError) as expired:
                old.me()
            assert expired.value.code == "KEY_EXPIRED"
        with Client(api_key=new.key, base_url=server.base_url, max_retries=0) as sandbox:
            for _ in range(50):
                sandbox.me()
            with pytest.raises(RateLimitError) as limited:
                sandbox.me()
            assert limited.value.retry_after == 2
        sdk.keys.revoke(new.id)
        assert new.id not in {k.id for k in sdk.keys.list()}


def test_failed_auth_is_limited_per_forwarded_client_behind_a_trusted_proxy(
    server: Server,
) -> None:
    """The server trusts X-Forwarded-For from 127.0.0.1 (QL_FORWARDED_ALLOW_IPS default):
    behind a load balancer, one client's failures do not lock out the others."""
    bad = {"Authorization": "Bearer qcos_live_" + "x" * 38}
    with server.client() as client:
        statuses = [
            client.get("/api/v2/me", headers={**bad, "X-Forwarded-For": "203.0.113.7"}).status_code
            for _ in range(40)
        ]
        other = client.get("/api/v2/me", headers={**bad, "X-Forwarded-For": "203.0.113.8"})
    assert statuses.count(401) == 30 and statuses.count(429) == 10
    assert other.status_code == 401
