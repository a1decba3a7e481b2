"""The SDK with client credentials against the real app, in process (#19, bearer).

Until the oauth part's POST /oauth/token is merged, a stand-in answers it (RFC 6749 shapes):
it checks the Basic credentials and mints a token with the identity foundation, as the real
endpoint will; every other request goes to the real app, whose bearer part is under test.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import AsyncClient, Client, OAuthError, PermissionDeniedError
from quantumlock.identity.models import ServiceAccount
from tests.conftest import AccountFixture
from tests.tokens import Issuer

BASE = "http://testserver"


class TokenStandIn:
    """POST /oauth/token for one service account: its token, or invalid_client."""

    def __init__(self, issuer: Issuer, account_id: str, sa: str, secret: str) -> None:
        self.issuer, self.account_id, self.sa, self.secret = issuer, account_id, sa, secret
        self.issued = 0

    def answers(self, request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path == "/oauth/token"

    def answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = base64.b64decode(value).decode() if scheme == "Basic" else ""
        if b"grant_type=client_credentials" not in body:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        with self.issuer.sessions() as session:
            row = session.get(ServiceAccount, self.sa)
            active = row is not None and row.status == "active"
            scopes = list(row.scopes) if row is not None else []
        if given != f"{self.sa}:{self.secret}" or not active:
            refusal = {"error": "invalid_client", "error_description": "Authentication failed."}
            return httpx.Response(401, json=refusal)
        token = self.issuer.mint(self.account_id, self.sa, scopes=scopes)[0]
        self.issued += 1
        body_out = {"access_token": token, "token_type": "Bearer", "expires_in": 900,
                    "scope": " ".join(scopes)}  # fmt: skip
        return httpx.Response(200, json=body_out)


class SyncStandIn(httpx.BaseTransport):
    def __init__(self, app: httpx.BaseTransport, stand_in: TokenStandIn) -> None:
        self.app, self.stand_in = app, stand_in

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.stand_in.answers(request):
            return self.stand_in.answer(request, request.read())
        return self.app.handle_request(request)


class AsyncStandIn(httpx.AsyncBaseTransport):
    def __init__(self, app: httpx.AsyncBaseTransport, stand_in: TokenStandIn) -> None:
        self.app, self.stand_in = app, stand_in

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.stand_in.answers(request):
            return self.stand_in.answer(request, await request.aread())
        return await self.app.handle_async_request(request)


@pytest.fixture
def stand_in(app: FastAPI, account: AccountFixture) -> TokenStandIn:
    issuer = Issuer(app.state.runtime.sessions, app.state.runtime.sealer)
    sa = issuer.service_account(account.id, scopes=["licenses:read", "licenses:write"])
    return TokenStandIn(issuer, account.id, sa, "secret_" + "x" * 40)


def disable(stand_in: TokenStandIn) -> None:
    stand_in.issuer.set_status(ServiceAccount, stand_in.sa, "disabled", "service_account")


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sync_client_credentials_against_the_app(
    client: TestClient, stand_in: TokenStandIn
) -> None:
    transport = SyncStandIn(client._transport, stand_in)
    with Client(
        client_id=stand_in.sa, client_secret=stand_in.secret, base_url=BASE, transport=transport
    ) as sdk:
        me = sdk.me()
        assert me.key_id == stand_in.sa and me.type == "live"
        assert me.subject is not None and me.subject.kind == "service_account"
        assert me.subject.token_expires_at == me.expires_at
        made = sdk.licenses.generate("cust-sa")
        assert sdk.licenses.get(made.license_key).license_key == made.license_key
        with pytest.raises(PermissionDeniedError):
            sdk.keys.list()
        assert stand_in.issued == 1
        disable(stand_in)

        def refused() -> bool:
            try:
                sdk.me()
            except OAuthError as exc:
                # Its token refused (401), the SDK asked for a fresh one: invalid_client.
                assert exc.error == "invalid_client" and exc.status_code == 401
                return True
            return False

        eventually(refused)


def test_async_client_credentials_against_the_app(app: FastAPI, stand_in: TokenStandIn) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = AsyncStandIn(httpx.ASGITransport(app=app), stand_in)
            async with AsyncClient(
                client_id=stand_in.sa,
                client_secret=stand_in.secret,
                base_url=BASE,
                transport=transport,
            ) as sdk:
                mes = await asyncio.gather(*(sdk.me() for _ in range(5)))
                assert {m.key_id for m in mes} == {stand_in.sa}
                assert stand_in.issued == 1
                assert sorted(mes[0].scopes) == ["licenses:read", "licenses:write"]
                with pytest.raises(PermissionDeniedError):
                    await sdk.keys.list()

    asyncio.run(scenario())
