"""`client.oauth_clients` and `client.service_accounts`: against the real app in process
(sync over TestClient, async over ASGITransport), and what they send on the wire."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    Client,
    ConflictError,
    CreatedServiceAccount,
    NotFoundError,
    OAuthClient,
    PermissionDeniedError,
    ServiceAccount,
    ValidationError,
)
from tests.conftest import AccountFixture
from tests.sdk.conftest import BASE, KEY
from tests.secret_scan import REGISTRY


def test_service_accounts_sync(client: TestClient, account: AccountFixture) -> None:
    sdk = Client(api_key=account.admin_key, base_url="http://testserver", http_client=client)
    made = sdk.service_accounts.create("ci", scopes=["licenses:read"])
    REGISTRY.add(made.client_secret)
    assert isinstance(made, CreatedServiceAccount)
    assert made.client_id.startswith("service_") and made.client_secret.startswith("secret_")
    assert made.client_secret not in repr(made)
    assert [s.client_id for s in sdk.service_accounts.list()] == [made.client_id]
    assert [s.client_id for s in sdk.service_accounts.iter(page_size=1)] == [made.client_id]
    got = sdk.service_accounts.get(made.client_id)
    assert isinstance(got, ServiceAccount) and got.secret_prefix == made.secret_prefix
    assert sdk.service_accounts.update(made.client_id, name="ci-2").name == "ci-2"
    rotated = sdk.service_accounts.rotate_secret(made.client_id, grace_period=timedelta(hours=1))
    REGISTRY.add(rotated.client_secret)
    assert rotated.client_secret != made.client_secret
    assert rotated.previous_secrets_expire_at is not None
    assert len(sdk.service_accounts.get(made.client_id).secrets) == 2
    assert sdk.service_accounts.disable(made.client_id).status == "disabled"
    assert sdk.service_accounts.enable(made.client_id).status == "active"
    with pytest.raises(ValidationError):
        sdk.service_accounts.rotate_secret(made.client_id, grace_period=8 * 86400)
    sdk.service_accounts.delete(made.client_id)
    with pytest.raises(NotFoundError):
        sdk.service_accounts.get(made.client_id)


def test_oauth_clients_sync(client: TestClient, account: AccountFixture) -> None:
    sdk = Client(api_key=account.admin_key, base_url="http://testserver", http_client=client)
    made = sdk.oauth_clients.create(
        "portal",
        redirect_uris=["https://app.example/cb"],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["licenses:read", "openid"],
    )
    assert made.client_secret is not None
    REGISTRY.add(made.client_secret)
    assert made.id_token_signed_response_alg == "ES256"
    public = sdk.oauth_clients.create(
        "cli", public=True, redirect_uris=["http://127.0.0.1:8400/cb"], scopes=["openid"]
    )
    assert public.client_secret is None and public.token_endpoint_auth_method == "none"
    with pytest.raises(ConflictError):
        sdk.oauth_clients.rotate_secret(public.client_id)
    listed = sdk.oauth_clients.list(limit=1)
    assert len(listed) == 1 and listed.has_more and listed.next_cursor == public.client_id
    assert {c.client_id for c in sdk.oauth_clients.iter()} == {made.client_id, public.client_id}
    updated = sdk.oauth_clients.update(made.client_id, redirect_uris=["https://app.example/b"])
    assert isinstance(updated, OAuthClient) and updated.redirect_uris == ["https://app.example/b"]
    rs = sdk.oauth_clients.update(made.client_id, id_token_signed_response_alg="RS256")
    assert rs.id_token_signed_response_alg == "RS256"
    assert sdk.oauth_clients.get(made.client_id).id_token_signed_response_alg == "RS256"
    with pytest.raises(ValidationError) as bad:
        sdk.oauth_clients.update(made.client_id, redirect_uris=["https://app.example/#frag"])
    assert "fragment" in str(bad.value)
    restricted = sdk.keys.create("ro", scopes=["licenses:read"]).key
    REGISTRY.add(restricted)
    limited = Client(api_key=restricted, base_url="http://testserver", http_client=client)
    with pytest.raises(PermissionDeniedError):
        limited.oauth_clients.list()
    assert sdk.oauth_clients.disable(made.client_id).status == "disabled"
    sdk.oauth_clients.delete(made.client_id)
    with pytest.raises(NotFoundError):
        sdk.oauth_clients.get(made.client_id)


def test_async_twins_against_the_app(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient(
                api_key=account.admin_key, base_url="http://testserver", transport=transport
            ) as sdk:
                made = await sdk.service_accounts.create("a", scopes=["account:read"], mode="test")
                REGISTRY.add(made.client_secret)
                assert made.mode == "test"
                assert [s.client_id async for s in sdk.service_accounts.iter()] == [made.client_id]
                rotated = await sdk.service_accounts.rotate_secret(made.client_id, grace_period=0)
                REGISTRY.add(rotated.client_secret)
                assert rotated.previous_secrets_expire_at is None
                assert (await sdk.service_accounts.disable(made.client_id)).status == "disabled"
                assert (await sdk.service_accounts.enable(made.client_id)).status == "active"
                await sdk.service_accounts.update(made.client_id, scopes=["licenses:read"])
                assert (await sdk.service_accounts.get(made.client_id)).scopes == ["licenses:read"]
                await sdk.service_accounts.delete(made.client_id)

                oc = await sdk.oauth_clients.create(
                    "m2m",
                    grant_types=["client_credentials"],
                    scopes=["licenses:read"],
                    id_token_signed_response_alg="RS256",
                )
                assert oc.id_token_signed_response_alg == "RS256"
                assert oc.client_secret is not None
                REGISTRY.add(oc.client_secret)
                assert oc.redirect_uris == [] and oc.grant_types == ["client_credentials"]
                again = await sdk.oauth_clients.rotate_secret(oc.client_id)
                REGISTRY.add(again.client_secret or "")
                assert len((await sdk.oauth_clients.get(oc.client_id)).secrets) == 2
                assert [c.client_id async for c in sdk.oauth_clients.iter()] == [oc.client_id]
                assert (await sdk.oauth_clients.disable(oc.client_id)).status == "disabled"
                assert (await sdk.oauth_clients.enable(oc.client_id)).status == "active"
                back = await sdk.oauth_clients.update(
                    oc.client_id, name="renamed", id_token_signed_response_alg="ES256"
                )
                assert back.name == "renamed" and back.id_token_signed_response_alg == "ES256"
                assert len(await sdk.oauth_clients.list()) == 1
                await sdk.oauth_clients.delete(oc.client_id)

    asyncio.run(scenario())


def test_what_goes_on_the_wire() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500, json={"detail": "stop", "code": "INTERNAL_ERROR"})

    sdk = Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(Exception):  # noqa: B017 - only the request matters here
        sdk.service_accounts.rotate_secret("service_x/../y", grace_period=timedelta(hours=2))
    request = sent[-1]
    assert (
        request.url.raw_path.decode() == "/api/v2/service-accounts/service_x%2F..%2Fy/rotate-secret"
    )
    assert json.loads(request.content) == {"grace_period": 7200}
    assert request.headers["Idempotency-Key"]
    with pytest.raises(Exception):  # noqa: B017
        sdk.oauth_clients.create("x", public=True, idempotency_key="fixed-1")
    assert json.loads(sent[-1].content) == {"name": "x", "kind": "public"}
    assert sent[-1].headers["Idempotency-Key"] == "fixed-1"
    # id_token_signed_response_alg only when given (the server's default otherwise).
    with pytest.raises(Exception):  # noqa: B017
        sdk.oauth_clients.create("x", id_token_signed_response_alg="RS256")
    assert json.loads(sent[-1].content) == {"name": "x", "id_token_signed_response_alg": "RS256"}
    with pytest.raises(Exception):  # noqa: B017
        sdk.oauth_clients.update("client_x", name="y")
    assert json.loads(sent[-1].content) == {"name": "y"}
    with pytest.raises(Exception):  # noqa: B017
        sdk.oauth_clients.update("client_x", id_token_signed_response_alg="ES256")
    assert json.loads(sent[-1].content) == {"id_token_signed_response_alg": "ES256"}
