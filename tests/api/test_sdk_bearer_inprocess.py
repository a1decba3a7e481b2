"""The SDK with client credentials against the real app, in process (#19): a service account
made through the API, its token fetched from the real POST /oauth/token, used on the API,
refused once the account is disabled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import AsyncClient, Client, OAuthError, PermissionDeniedError
from tests.conftest import AccountFixture

BASE = "http://testserver"


@dataclass
class Robot:
    client_id: str
    secret: str


def _is_token_fetch(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path == "/oauth/token"


class CountingTransport(httpx.BaseTransport):
    """The app's own transport; counts what went to /oauth/token."""

    def __init__(self, app: httpx.BaseTransport) -> None:
        self.app, self.fetches = app, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.fetches += _is_token_fetch(request)
        return self.app.handle_request(request)


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: httpx.AsyncBaseTransport) -> None:
        self.app, self.fetches = app, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.fetches += _is_token_fetch(request)
        return await self.app.handle_async_request(request)


@pytest.fixture
def robot(client: TestClient, account: AccountFixture) -> Robot:
    made = client.post(
        "/api/v2/service-accounts",
        json={"name": "robot", "scopes": ["licenses:read", "licenses:write"]},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    return Robot(data["client_id"], data["client_secret"])


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sync_client_credentials_against_the_app(
    client: TestClient, account: AccountFixture, robot: Robot
) -> None:
    transport = CountingTransport(client._transport)
    with Client(
        client_id=robot.client_id, client_secret=robot.secret, base_url=BASE, transport=transport
    ) as sdk:
        me = sdk.me()
        assert me.key_id == robot.client_id and me.type == "live"
        assert me.subject is not None and me.subject.kind == "service_account"
        assert me.subject.token_expires_at == me.expires_at
        made = sdk.licenses.generate("cust-sa")
        assert sdk.licenses.get(made.license_key).license_key == made.license_key
        with pytest.raises(PermissionDeniedError):
            sdk.keys.list()
        assert transport.fetches == 1  # one token for all of it
        disabled = client.post(
            f"/api/v2/service-accounts/{robot.client_id}/disable", headers=account.headers
        )
        assert disabled.status_code == 200, disabled.text

        def refused() -> bool:
            try:
                sdk.me()
            except OAuthError as exc:
                # Its token refused (401), the SDK asked for a fresh one: invalid_client.
                assert exc.error == "invalid_client" and exc.status_code == 401
                return True
            return False

        eventually(refused)


def test_async_client_credentials_against_the_app(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=asgi, base_url=BASE) as admin:
                made = await admin.post(
                    "/api/v2/service-accounts",
                    json={"name": "robot", "scopes": ["licenses:read", "licenses:write"]},
                    headers=account.headers,
                )
            assert made.status_code == 201, made.text
            robot = Robot(made.json()["data"]["client_id"], made.json()["data"]["client_secret"])
            transport = AsyncCountingTransport(asgi)
            async with AsyncClient(
                client_id=robot.client_id,
                client_secret=robot.secret,
                base_url=BASE,
                transport=transport,
            ) as sdk:
                mes = await asyncio.gather(*(sdk.me() for _ in range(5)))
                assert {m.key_id for m in mes} == {robot.client_id}
                assert transport.fetches == 1  # five callers, one fetch
                assert sorted(mes[0].scopes) == ["licenses:read", "licenses:write"]
                with pytest.raises(PermissionDeniedError):
                    await sdk.keys.list()

    asyncio.run(scenario())
