"""The SDK against the real app, in process: sync over TestClient, async over ASGITransport."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    AuthenticationError,
    Client,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from tests.conftest import AccountFixture


def test_sync_sdk_against_the_app(client: TestClient, account: AccountFixture) -> None:
    sdk = Client(api_key=account.admin_key, base_url="http://testserver", http_client=client)
    me = sdk.me()
    assert me.account_id == account.id and me.scopes == ["admin"]
    created = sdk.keys.create("ci", scopes=["licenses:read"], expires_in="30d")
    assert created.type == "restricted" and created.key.startswith("qcos_rkey_")
    assert created.id in {k.id for k in sdk.keys.list()}
    rotated = sdk.keys.rotate(created.id, grace_period="0s")
    assert rotated.rotated_from == created.id
    limited = Client(api_key=rotated.key, base_url="http://testserver", http_client=client)
    with pytest.raises(PermissionDeniedError) as denied:
        limited.keys.list()
    assert denied.value.code == "INSUFFICIENT_SCOPE"
    sdk.keys.revoke(rotated.id)
    with pytest.raises(AuthenticationError) as revoked:
        limited.me()
    assert revoked.value.code == "KEY_REVOKED"
    with pytest.raises(ValidationError) as invalid:
        sdk.keys.create("x", scopes=["admin"])
    assert invalid.value.status_code == 400


def test_sync_sdk_rate_limit(client: TestClient, account: AccountFixture) -> None:
    sdk = Client(api_key=account.admin_key, base_url="http://testserver", http_client=client)
    test_key = sdk.keys.create("sandbox", type="test").key
    sandbox = Client(
        api_key=test_key, base_url="http://testserver", http_client=client, max_retries=0
    )
    for _ in range(50):
        sandbox.me()
    with pytest.raises(RateLimitError) as info:
        sandbox.me()
    assert info.value.retry_after == 2


def test_async_sdk_against_the_app(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient(
                api_key=account.admin_key, base_url="http://testserver", transport=transport
            ) as sdk:
                me = await sdk.me()
                assert me.key_id.startswith("key_")
                created = await sdk.keys.create("async", type="test")
                assert created.mode == "test"
                keys = await sdk.keys.list()
                assert created.id in {k.id for k in keys}
                await sdk.keys.revoke(created.id)

    asyncio.run(scenario())
