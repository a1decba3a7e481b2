"""Every error is the documented JSON body, on both families, never FastAPI's defaults."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_auth_api import assert_error
from tests.conftest import AccountFixture, bearer


def test_unknown_route_is_404(client: TestClient) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/nope"):
        assert_error(client.get(path), 404, "NOT_FOUND")


def test_wrong_method_is_405(client: TestClient, account: AccountFixture) -> None:
    assert_error(
        client.put("/api/v2/me", headers=bearer(account.admin_key)), 405, "METHOD_NOT_ALLOWED"
    )
    assert_error(client.delete("/health"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_400_not_422(client: TestClient, account: AccountFixture) -> None:
    resp = client.post(
        "/api/v2/keys",
        content=b'{"name": ',
        headers={**bearer(account.admin_key), "content-type": "application/json"},
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert body["errors"]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "name",
        {"name": 5},
        {"name": None},
        {"name": "x", "scopes": "admin"},
        {"name": "x", "scopes": [1]},
        {"name": "x", "expires_in": 90},
    ],
)
def test_wrong_types_are_400_with_a_field_list(
    client: TestClient, account: AccountFixture, payload: object
) -> None:
    resp = client.post("/api/v2/keys", json=payload, headers=bearer(account.admin_key))
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert isinstance(body["errors"], list) and body["errors"]
    for err in body["errors"]:
        assert set(err) == {"loc", "msg", "type"}


def test_validation_errors_do_not_echo_input(client: TestClient, account: AccountFixture) -> None:
    secret = "qcos_live_" + "S" * 38
    resp = client.post(
        "/api/v2/keys", json={"name": 7, "scopes": secret}, headers=bearer(account.admin_key)
    )
    assert resp.status_code == 400
    assert secret not in resp.text


def test_oversized_body_is_413(client: TestClient, account: AccountFixture) -> None:
    big = json.dumps({"name": "x" * (1024 * 1024 + 10)})
    resp = client.post(
        "/api/v2/keys",
        content=big,
        headers={**bearer(account.admin_key), "content-type": "application/json"},
    )
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


def test_oversized_streamed_body_without_length_is_413(
    client: TestClient, account: AccountFixture
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    resp = client.post(
        "/api/v2/keys",
        content=chunks(),
        headers={**bearer(account.admin_key), "content-type": "application/json"},
    )
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


def test_unhandled_exception_is_500_without_a_trace(
    app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals qcos_live_leak")

    app.add_api_route("/api/v1/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/api/v1/boom")
    body = assert_error(resp, 500, "INTERNAL_ERROR")
    assert body["detail"] == "Internal server error."
    assert "Traceback" not in resp.text and "internals" not in resp.text
    logged = capfd.readouterr().out
    assert "unhandled_error" in logged and resp.headers["x-request-id"] in logged


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    generated = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers[
        "x-request-id"
    ]
    assert generated.startswith("req_")
    assert client.get("/nope").headers["x-request-id"].startswith("req_")


def test_timestamps_are_iso_utc(client: TestClient) -> None:
    stamp = client.get("/nope").json()["timestamp"]
    assert stamp.endswith("Z") and "T" in stamp
