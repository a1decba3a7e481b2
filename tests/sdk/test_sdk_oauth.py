"""The SDK's client credentials (#19): it fetches, caches and refreshes its own access token.

Against respx-mocked endpoints shaped as RFC 6749 says (the server's /oauth/token is another
part of #19); tests/api/test_sdk_bearer_inprocess.py runs the tokens against the real app.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from qcos import AsyncClient, AuthenticationError, Client, ConfigurationError, OAuthError
from tests.sdk.conftest import BASE, KEY, ME

CLIENT_ID = "service_" + "A" * 24
SECRET = "secret_" + "s3cr3t" * 6
TOKEN_URL = BASE + "/oauth/token"
ME_URL = BASE + "/api/v2/me"


def jwt_like(n: int) -> str:
    return f"eyJhbGciOiJFUzI1NiJ9.eyJ0b2tlbiI6{n}.c2lnbmF0dXJl{n}"


class TokenEndpoint:
    """Issues token 1, 2, 3… (each valid `expires_in` s) and records what it was sent."""

    def __init__(self, expires_in: int = 900, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
        if self.delay:
            time.sleep(self.delay)
        body = {"access_token": jwt_like(n), "token_type": "Bearer",
                "expires_in": self.expires_in, "scope": "licenses:read"}  # fmt: skip
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QCOS_API_KEY", "QCOS_CLIENT_ID", "QCOS_CLIENT_SECRET", "QCOS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def me_seen(router: respx.MockRouter) -> list[str]:
    return [c.request.headers["authorization"] for c in router.calls if c.request.url == ME_URL]


def sync_client(**kwargs: Any) -> Client:
    return Client(client_id=CLIENT_ID, client_secret=SECRET, base_url=BASE, **kwargs)


def test_a_token_is_fetched_once_with_basic_auth_and_reused(mocked: respx.MockRouter) -> None:
    endpoint = TokenEndpoint()
    mocked.post(TOKEN_URL).mock(side_effect=endpoint)
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))
    with sync_client(scopes=["licenses:read", "licenses:write"]) as client:
        client.me()
        client.me()
    assert len(endpoint.requests) == 1
    sent = endpoint.requests[0]
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(sent.content.decode())
    assert form == {"grant_type": ["client_credentials"], "scope": ["licenses:read licenses:write"]}
    assert me_seen(mocked) == [f"Bearer {jwt_like(1)}"] * 2


def test_the_token_is_replaced_60_s_before_it_expires(
    mocked: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("qcos._oauth.time.monotonic", lambda: now[0])
    endpoint = TokenEndpoint(expires_in=900)
    mocked.post(TOKEN_URL).mock(side_effect=endpoint)
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))
    with sync_client() as client:
        client.me()
        now[0] += 839
        client.me()
        now[0] += 2  # 841 s: less than 60 s left
        client.me()
    assert me_seen(mocked) == [f"Bearer {jwt_like(n)}" for n in (1, 1, 2)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_401_is_retried_once_with_a_fresh_token(mode: str, mocked: respx.MockRouter) -> None:
    endpoint = TokenEndpoint()
    mocked.post(TOKEN_URL).mock(side_effect=endpoint)
    refused = httpx.Response(401, json={"detail": "Access token revoked.", "code": "UNAUTHORIZED"})
    mocked.get(ME_URL).mock(side_effect=[refused, httpx.Response(200, json={"data": ME}),
                                         refused, refused])  # fmt: skip

    async def run_async() -> None:
        async with AsyncClient(client_id=CLIENT_ID, client_secret=SECRET, base_url=BASE) as c:
            assert (await c.me()).key_id == ME["key_id"]
            with pytest.raises(AuthenticationError) as info:
                await c.me()
            assert info.value.detail == "Access token revoked."

    if mode == "sync":
        with sync_client() as client:
            assert client.me().key_id == ME["key_id"]
            with pytest.raises(AuthenticationError) as info:
                client.me()  # refused with the new token too: no second retry
            assert info.value.detail == "Access token revoked."
    else:
        asyncio.run(run_async())
    assert me_seen(mocked) == [f"Bearer {jwt_like(n)}" for n in (1, 2, 2, 3)]
    assert len(endpoint.requests) == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("status", "error"),
    [(401, "invalid_client"), (400, "invalid_scope"), (400, "unauthorized_client")],
)
def test_token_endpoint_errors_are_authentication_errors_with_the_rfc_code(
    mode: str, status: int, error: str, mocked: respx.MockRouter
) -> None:
    body = {"error": error, "error_description": f"{error} described"}
    mocked.post(TOKEN_URL).mock(return_value=httpx.Response(status, json=body))
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))

    async def run_async() -> None:
        async with AsyncClient(client_id=CLIENT_ID, client_secret=SECRET, base_url=BASE) as c:
            await c.me()

    with pytest.raises(OAuthError) as info:
        if mode == "sync":
            with sync_client() as client:
                client.me()
        else:
            asyncio.run(run_async())
    exc = info.value
    assert isinstance(exc, AuthenticationError)
    assert (exc.error, exc.code, exc.status_code) == (error, error, status)
    assert exc.detail == f"{error} described"
    assert SECRET not in str(exc) and SECRET not in repr(exc)
    assert not me_seen(mocked)


def test_a_token_answer_without_a_token_is_an_error_that_shows_no_body(
    mocked: respx.MockRouter,
) -> None:
    mocked.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "x y", "token_type": "mac"})
    )
    with sync_client() as client, pytest.raises(OAuthError) as info:
        client.me()
    assert info.value.code == "invalid_response" and "x y" not in str(info.value)


def test_many_threads_needing_a_token_cause_one_fetch(mocked: respx.MockRouter) -> None:
    endpoint = TokenEndpoint(delay=0.2)
    mocked.post(TOKEN_URL).mock(side_effect=endpoint)
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))
    errors: list[BaseException] = []
    with sync_client() as client:

        def work() -> None:
            try:
                client.me()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(endpoint.requests) == 1
    assert me_seen(mocked) == [f"Bearer {jwt_like(1)}"] * 8


def test_many_tasks_needing_a_token_cause_one_fetch(mocked: respx.MockRouter) -> None:
    calls: list[int] = []

    async def token(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        await asyncio.sleep(0.1)
        return httpx.Response(200, json={"access_token": jwt_like(len(calls)),
                                         "token_type": "bearer", "expires_in": 900})  # fmt: skip

    mocked.post(TOKEN_URL).mock(side_effect=token)
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))

    async def run() -> None:
        async with AsyncClient(client_id=CLIENT_ID, client_secret=SECRET, base_url=BASE) as c:
            await asyncio.gather(*(c.me() for _ in range(10)))

    asyncio.run(run())
    assert len(calls) == 1 and me_seen(mocked) == [f"Bearer {jwt_like(1)}"] * 10


def test_credentials_from_the_environment(
    mocked: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QCOS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("QCOS_CLIENT_SECRET", SECRET)
    endpoint = TokenEndpoint()
    mocked.post(TOKEN_URL).mock(side_effect=endpoint)
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))
    with Client(base_url=BASE) as client:
        client.me()
        assert SECRET not in repr(client) and SECRET not in repr(client.__dict__)
    assert len(endpoint.requests) == 1
    # An explicit API key wins over credentials in the environment (and fetches no token).
    with Client(api_key=KEY, base_url=BASE) as client:
        client.me()
    assert me_seen(mocked)[-1] == f"Bearer {KEY}" and len(endpoint.requests) == 1


def test_explicit_credentials_win_over_an_api_key_in_the_environment(
    mocked: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QCOS_API_KEY", KEY)
    mocked.post(TOKEN_URL).mock(side_effect=TokenEndpoint())
    mocked.get(ME_URL).mock(return_value=httpx.Response(200, json={"data": ME}))
    with sync_client() as client:
        client.me()
    assert me_seen(mocked) == [f"Bearer {jwt_like(1)}"]


@pytest.mark.parametrize(
    ("kwargs", "env", "code"),
    [
        ({"api_key": KEY, "client_id": CLIENT_ID, "client_secret": SECRET}, {}, "INVALID_CONFIG"),
        ({}, {"QCOS_API_KEY": KEY, "QCOS_CLIENT_ID": CLIENT_ID}, "INVALID_CONFIG"),
        ({"client_id": CLIENT_ID}, {}, "NO_CLIENT_SECRET"),
        ({"client_secret": SECRET}, {}, "NO_CLIENT_ID"),
        ({"client_id": CLIENT_ID, "client_secret": SECRET + " "}, {}, "BAD_CLIENT_CREDENTIALS"),
        ({}, {}, "NO_API_KEY"),
    ],
)
def test_configuration_errors(
    kwargs: dict[str, Any], env: dict[str, str], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for cls in (Client, AsyncClient):
        with pytest.raises(ConfigurationError) as info:
            cls(base_url=BASE, **kwargs)
        assert info.value.code == code
        assert SECRET not in str(info.value)
