"""Shared pieces for the SDK tests: canned payloads, a recording transport, sync/async runner.

Every test here talks to `httpx.MockTransport` (or a tiny hand-written ASGI app); none needs
the server, a database or the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import httpx
import pytest

from qcos import AsyncClient, Client

BASE = "http://api.test"
KEY = "qcos_live_" + "A" * 32 + "000000"
SECRET = "qcos_rkey_" + "S" * 32 + "999999"

KEY_ROW: dict[str, Any] = {
    "id": "key_abc",
    "name": "ci",
    "type": "restricted",
    "mode": "live",
    "prefix": "qcos_rkey_SSSS...",
    "scopes": ["licenses:read"],
    "created_at": "2026-01-01T00:00:00Z",
    "last_used_at": None,
    "expires_at": "2026-04-01T00:00:00+00:00",
    "revoked_at": None,
    "added_in_a_later_server": {"ignored": True},
}
ME: dict[str, Any] = {
    "key_id": "key_abc",
    "account_id": "cust_x",
    "type": "live",
    "mode": "live",
    "scopes": ["admin"],
    "expires_at": None,
    "rate_limit": {"limit": 500, "remaining": 499, "reset_at": "2026-02-06T12:01:00Z"},
}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering with `responses` in turn (the last one repeats)."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": data}, headers={"x-request-id": "req_ok"})


def api_error(
    status: int, code: str, *, retry_after: int | None = None, **extra: Any
) -> httpx.Response:
    headers = {"x-request-id": "req_1"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
        extra["retry_after"] = retry_after
    body = {
        "detail": f"{code} happened",
        "code": code,
        "timestamp": "2026-01-01T00:00:00Z",
        "request_id": "req_1",
        **extra,
    }
    return httpx.Response(status, json=body, headers=headers)


def call(
    mode: str,
    handler: Handler,
    method: str,
    *args: Any,
    client_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """`client.<method>(*args, **kwargs)` on a fresh Client, or awaited on an AsyncClient."""
    options: dict[str, Any] = {
        "api_key": KEY,
        "base_url": BASE,
        "transport": httpx.MockTransport(handler),
        **(client_kwargs or {}),
    }
    if mode == "sync":
        with Client(**options) as client:
            return attrgetter(method)(client)(*args, **kwargs)

    async def scenario() -> Any:
        async with AsyncClient(**options) as client:
            return await attrgetter(method)(client)(*args, **kwargs)

    return asyncio.run(scenario())


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Runs a test once through Client and once through AsyncClient."""
    return str(request.param)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replaces the SDK's sleeps (both twins) with a recorder of the requested seconds."""
    record: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        record.append(seconds)

    monkeypatch.setattr("qcos._client.time.sleep", record.append)
    monkeypatch.setattr("qcos._client.asyncio.sleep", fake_async_sleep)
    return record


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
