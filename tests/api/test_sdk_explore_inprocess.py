"""The exploring SDK against the real app (#18): keys page by page, get and update,
last_response with the server's own headers, default encrypt keys."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import AsyncClient, Client, NotFoundError, ValidationError
from tests.conftest import AccountFixture, MakeAccount


def sdk_for(client: TestClient, key: str) -> Client:
    return Client(api_key=key, base_url="http://testserver", http_client=client)


def test_keys_explored_through_the_sdk(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    made = [sdk.keys.create(f"svc-{n}", scopes=["licenses:write"]) for n in range(4)]
    page = sdk.keys.list(limit=2)
    assert [k.id for k in page] == [made[3].id, made[2].id] and page.has_more
    walked = [k.id for k in sdk.keys.iter(page_size=2)]
    assert walked[:4] == [k.id for k in reversed(made)] and len(walked) == 5  # + the admin key
    assert sdk.last_response is not None and sdk.last_response.path == "/api/v2/keys"

    key = sdk.keys.update(
        made[0].id, name="billing", scopes=["licenses:validate"], metadata={"team": "billing"}
    )
    assert (key.name, key.scopes, key.metadata) == (
        "billing",
        ["licenses:validate"],
        {"team": "billing"},
    )
    assert sdk.keys.get(made[0].id) == key
    with pytest.raises(ValidationError) as gained:
        sdk.keys.update(made[0].id, scopes=["licenses:write"])
    assert gained.value.errors[0]["loc"][-1] == "scopes"
    assert sdk.last_response.status_code == 400
    assert sdk.last_response.request_id == gained.value.request_id


def test_another_accounts_key_is_not_found(client: TestClient, make_account: MakeAccount) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    theirs = sdk_for(client, b.admin_key).keys.create("theirs")
    mine = sdk_for(client, a.admin_key)
    with pytest.raises(NotFoundError):
        mine.keys.get(theirs.id)
    with pytest.raises(NotFoundError):
        mine.keys.update(theirs.id, name="stolen")


def test_last_response_shows_the_rate_limit_and_the_quota(
    client: TestClient, make_account: MakeAccount
) -> None:
    sdk = sdk_for(client, make_account(plan="free").admin_key)
    sdk.me()
    first = sdk.last_response
    assert first is not None and first.rate_limit is not None and first.quota is None
    assert first.request_id and first.request_id.startswith("req_")
    sdk.licenses.generate("customer@example.com")
    after = sdk.last_response
    assert after is not None and after.status_code == 201 and after.quota is not None
    assert (after.quota.limit, after.quota.remaining) == (100, 99)
    assert after.rate_limit is not None and after.rate_limit.remaining < first.rate_limit.remaining


def test_encrypt_without_a_key_reuses_the_default(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    first, second = sdk.quantum.encrypt(b"a"), sdk.quantum.encrypt(b"b")
    assert first.key_id == second.key_id
    assert sdk.quantum.decrypt(second) == b"b"
    stored = sdk.quantum.list_keys().keys
    assert [(k.key_id, k.default_for) for k in stored] == [(first.key_id, "AES-256-GCM")]


def test_the_async_client_explores_too(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient(
                api_key=account.admin_key, base_url="http://testserver", transport=transport
            ) as sdk:
                made = await sdk.keys.create("async", scopes=["account:read"])
                ids = [k.id async for k in sdk.keys.iter(page_size=1)]
                assert ids[0] == made.id and len(ids) == 2
                updated = await sdk.keys.update(made.id, metadata={"x": 1})
                assert updated.metadata == {"x": 1}
                assert (await sdk.keys.get(made.id)).metadata == {"x": 1}
                assert sdk.last_response is not None
                assert sdk.last_response.method == "GET" and sdk.last_response.rate_limit

    asyncio.run(scenario())
