"""The SDK on its own, against httpx.MockTransport: requests, parsing, errors, retries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

import qcos
from qcos import (
    APIConnectionError,
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)

KEY = "qcos_live_" + "A" * 32 + "000000"
KEY_ROW = {
    "id": "key_abc",
    "name": "n",
    "type": "live",
    "mode": "live",
    "prefix": "qcos_live_AAAA...",
    "scopes": ["licenses:read"],
    "created_at": "2026-01-01T00:00:00Z",
    "last_used_at": None,
    "expires_at": "2026-04-01T00:00:00Z",
    "revoked_at": None,
    "future_field": 1,
}
ME = {
    "key_id": "key_abc",
    "account_id": "cust_x",
    "type": "live",
    "mode": "live",
    "scopes": ["admin"],
    "expires_at": None,
    "rate_limit": {"limit": 500, "remaining": 499, "reset_at": "2026-02-06T12:01:00Z"},
}


class Recorder:
    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


def error(status: int, code: str, **extra: Any) -> httpx.Response:
    headers = {"x-request-id": "req_1"}
    if "retry_after" in extra:
        headers["retry-after"] = str(extra["retry_after"])
    return httpx.Response(
        status,
        json={
            "detail": f"{code} happened",
            "code": code,
            "timestamp": "2026-01-01T00:00:00Z",
            "request_id": "req_1",
            **extra,
        },
        headers=headers,
    )


def sync_client(rec: Recorder, **kw: Any) -> Client:
    return Client(api_key=KEY, base_url="http://api.test", transport=httpx.MockTransport(rec), **kw)


def test_public_surface() -> None:
    for name in [
        "Client",
        "AsyncClient",
        "RateLimitError",
        "QCOSError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ValidationError",
    ]:
        assert hasattr(qcos, name)
    assert issubclass(RateLimitError, qcos.QCOSError)


def test_sends_bearer_key_and_parses_me() -> None:
    rec = Recorder(httpx.Response(200, json={"data": ME}))
    me = sync_client(rec).me()
    req = rec.requests[0]
    assert req.method == "GET" and str(req.url) == "http://api.test/api/v2/me"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["user-agent"].startswith("qcos-python/")
    assert me.key_id == "key_abc" and me.scopes == ["admin"]
    assert me.rate_limit.remaining == 499 and me.rate_limit.reset_at.tzinfo is not None


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_API_KEY", KEY)
    monkeypatch.setenv("QCOS_BASE_URL", "http://env.test/")
    rec = Recorder(httpx.Response(200, json={"data": ME}))
    client = Client(transport=httpx.MockTransport(rec))
    client.me()
    assert str(rec.requests[0].url) == "http://env.test/api/v2/me"


def test_no_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QCOS_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="QCOS_API_KEY"):
        Client()


def test_key_methods_send_the_documented_requests() -> None:
    rec = Recorder(
        httpx.Response(200, json={"data": {"keys": [KEY_ROW]}}),
        httpx.Response(201, json={"data": {**KEY_ROW, "key": "qcos_rkey_secret"}}),
        httpx.Response(204),
        httpx.Response(
            201,
            json={
                "data": {
                    **KEY_ROW,
                    "key": "qcos_live_new",
                    "rotated_from": "key_abc",
                    "previous_key_expires_at": "2026-01-02T00:00:00Z",
                }
            },
        ),
    )
    client = sync_client(rec)
    keys = client.keys.list()
    assert [k.id for k in keys] == ["key_abc"] and keys[0].expires_at is not None
    created = client.keys.create("ci", scopes=["licenses:read"], expires_in="90d")
    assert created.key == "qcos_rkey_secret"
    assert client.keys.revoke("key_abc") is None
    rotated = client.keys.rotate("key_abc", grace_period="1h")
    assert rotated.rotated_from == "key_abc" and rotated.previous_key_expires_at is not None
    methods = [(r.method, r.url.path) for r in rec.requests]
    assert methods == [
        ("GET", "/api/v2/keys"),
        ("POST", "/api/v2/keys"),
        ("DELETE", "/api/v2/keys/key_abc"),
        ("POST", "/api/v2/keys/key_abc/rotate"),
    ]
    assert json.loads(rec.requests[1].content) == {
        "name": "ci",
        "scopes": ["licenses:read"],
        "expires_in": "90d",
    }
    assert json.loads(rec.requests[3].content) == {"grace_period": "1h"}


def test_path_segments_are_escaped() -> None:
    rec = Recorder(httpx.Response(204))
    sync_client(rec).keys.revoke("../me")
    assert rec.requests[0].url.raw_path == b"/api/v2/keys/..%2Fme"


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (400, "VALIDATION_ERROR", ValidationError),
        (401, "KEY_REVOKED", AuthenticationError),
        (401, "KEY_EXPIRED", AuthenticationError),
        (403, "INSUFFICIENT_SCOPE", PermissionDeniedError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "CONFLICT", ConflictError),
        (500, "INTERNAL_ERROR", APIError),
        (503, "QUANTUM_UNAVAILABLE", APIError),
    ],
)
def test_errors_map_to_exceptions(status: int, code: str, exc: type[Exception]) -> None:
    with pytest.raises(exc) as info:
        sync_client(Recorder(error(status, code))).me()
    err = info.value
    assert isinstance(err, qcos.QCOSError)
    assert (err.status_code, err.code, err.request_id) == (status, code, "req_1")
    assert str(err) == f"{code} ({status}): {code} happened [request_id=req_1]"


def test_validation_error_exposes_fields() -> None:
    rec = Recorder(
        error(
            400, "VALIDATION_ERROR", errors=[{"loc": ["body", "name"], "msg": "short", "type": "x"}]
        )
    )
    with pytest.raises(ValidationError) as info:
        sync_client(rec).keys.create("")
    assert info.value.errors[0]["loc"] == ["body", "name"]


def test_non_json_error_body() -> None:
    with pytest.raises(APIError) as info:
        sync_client(Recorder(httpx.Response(502, text="<html>bad gateway</html>"))).me()
    assert info.value.code == "UNKNOWN" and info.value.status_code == 502


def test_rate_limit_retries_honouring_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("qcos._client.time.sleep", slept.append)
    rec = Recorder(
        error(429, "RATE_LIMIT_EXCEEDED", retry_after=3),
        error(429, "RATE_LIMIT_EXCEEDED", retry_after=2),
        httpx.Response(200, json={"data": ME}),
    )
    assert sync_client(rec).me().key_id == "key_abc"
    assert slept == [3.0, 2.0] and len(rec.requests) == 3


def test_rate_limit_error_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("qcos._client.time.sleep", slept.append)
    rec = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=1))
    with pytest.raises(RateLimitError) as info:
        sync_client(rec, max_retries=2).me()
    assert info.value.retry_after == 1 and len(rec.requests) == 3 and slept == [1.0, 1.0]


def test_no_retry_when_disabled_or_wait_too_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qcos._client.time.sleep", lambda s: pytest.fail("slept"))
    rec = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=1))
    with pytest.raises(RateLimitError):
        sync_client(rec, max_retries=0).me()
    assert len(rec.requests) == 1
    rec = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=3600))
    with pytest.raises(RateLimitError) as info:
        sync_client(rec).me()
    assert info.value.retry_after == 3600 and len(rec.requests) == 1


def test_retry_after_falls_back_to_body() -> None:
    response = httpx.Response(
        429, json={"detail": "x", "code": "RATE_LIMIT_EXCEEDED", "retry_after": 7}
    )
    with pytest.raises(RateLimitError) as info:
        sync_client(Recorder(response), max_retries=0).me()
    assert info.value.retry_after == 7


def test_connection_errors_retry_only_idempotent_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qcos._client.time.sleep", lambda s: None)
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    client = Client(api_key=KEY, base_url="http://api.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(APIConnectionError):
        client.keys.list()
    assert calls == ["GET"] * 3
    calls.clear()
    with pytest.raises(APIConnectionError):
        client.keys.create("x")
    assert calls == ["POST"]


def test_secret_never_in_repr_or_errors() -> None:
    rec = Recorder(
        httpx.Response(201, json={"data": {**KEY_ROW, "key": "qcos_rkey_topsecret"}}),
        error(401, "UNAUTHORIZED"),
    )
    client = sync_client(rec)
    created = client.keys.create("x")
    assert "topsecret" not in repr(created) and KEY not in repr(client)
    with pytest.raises(AuthenticationError) as info:
        client.me()
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_async_twin() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> None:
        rec = Recorder(
            error(429, "RATE_LIMIT_EXCEEDED", retry_after=2),
            httpx.Response(200, json={"data": ME}),
            httpx.Response(200, json={"data": {"keys": [KEY_ROW]}}),
            httpx.Response(201, json={"data": {**KEY_ROW, "key": "k"}}),
            httpx.Response(204),
            httpx.Response(201, json={"data": {**KEY_ROW, "key": "k2", "rotated_from": "key_abc"}}),
            error(403, "INSUFFICIENT_SCOPE"),
        )
        async with AsyncClient(
            api_key=KEY, base_url="http://api.test", transport=httpx.MockTransport(rec)
        ) as client:
            assert (await client.me()).account_id == "cust_x"
            assert len(await client.keys.list()) == 1
            assert (await client.keys.create("x", type="test")).key == "k"
            await client.keys.revoke("key_abc")
            assert (await client.keys.rotate("key_abc")).key == "k2"
            with pytest.raises(PermissionDeniedError):
                await client.me()
        assert json.loads(rec.requests[3].content) == {"name": "x", "type": "test"}

    import qcos._client as module

    original = module.asyncio.sleep
    module.asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        asyncio.run(scenario())
    finally:
        module.asyncio.sleep = original
    assert slept == [2.0]
