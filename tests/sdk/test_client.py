"""Client and AsyncClient against httpx.MockTransport: configuration, requests, parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import qcos
from qcos import (
    ApiKey,
    AsyncClient,
    Client,
    ConfigurationError,
    CreatedKey,
    Me,
    QCOSError,
    RateLimitInfo,
)
from qcos._operations import Operation
from tests.sdk.conftest import BASE, KEY, KEY_ROW, ME, SECRET, Recorder, call, ok

API_KEY = ApiKey(
    id="key_abc",
    name="ci",
    type="restricted",
    mode="live",
    prefix="qcos_rkey_SSSS...",
    scopes=["licenses:read"],
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    last_used_at=None,
    expires_at=datetime(2026, 4, 1, tzinfo=UTC),
    revoked_at=None,
)
KEY_FIELDS = {name: getattr(API_KEY, name) for name in ApiKey.__dataclass_fields__}
CREATED = {**KEY_ROW, "key": SECRET}
ROTATED = {
    **KEY_ROW,
    "id": "key_new",
    "key": SECRET,
    "rotated_from": "key_abc",
    "previous_key_expires_at": "2026-01-02T00:00:00Z",
}

NOT_CHECKED: Any = object()
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# (client method, args, kwargs, response factory, HTTP method, path, JSON body, parsed result).
# Factories, because one httpx.Response must not be served to two clients.
MethodCase = tuple[
    str, tuple[Any, ...], dict[str, Any], Callable[[], httpx.Response], str, str, Any, Any
]
METHOD_CASES: list[MethodCase] = [
    (
        "me",
        (),
        {},
        lambda: ok(ME),
        "GET",
        "/api/v2/me",
        None,
        Me(
            key_id="key_abc",
            account_id="cust_x",
            type="live",
            mode="live",
            scopes=["admin"],
            expires_at=None,
            rate_limit=RateLimitInfo(500, 499, datetime(2026, 2, 6, 12, 1, tzinfo=UTC)),
        ),
    ),
    (
        "keys.list",
        (),
        {},
        lambda: ok({"keys": [KEY_ROW, {**KEY_ROW, "id": "key_def"}]}),
        "GET",
        "/api/v2/keys",
        None,
        [API_KEY, ApiKey(**{**KEY_FIELDS, "id": "key_def"})],
    ),
    (
        "keys.create",
        ("ci",),
        {},
        lambda: ok(CREATED, 201),
        "POST",
        "/api/v2/keys",
        {"name": "ci"},
        CreatedKey(**KEY_FIELDS, key=SECRET),
    ),
    (
        "keys.create",
        ("ci",),
        {"scopes": ["licenses:read"], "expires_in": "90d", "type": "restricted"},
        lambda: ok(CREATED, 201),
        "POST",
        "/api/v2/keys",
        {"name": "ci", "scopes": ["licenses:read"], "expires_in": "90d", "type": "restricted"},
        CreatedKey(**KEY_FIELDS, key=SECRET),
    ),
    (
        "keys.revoke",
        ("key_abc",),
        {},
        lambda: httpx.Response(204),
        "DELETE",
        "/api/v2/keys/key_abc",
        None,
        None,
    ),
    (
        "keys.rotate",
        ("key_abc",),
        {},
        lambda: ok(ROTATED, 201),
        "POST",
        "/api/v2/keys/key_abc/rotate",
        {},  # the server's default grace period
        CreatedKey(
            **{**KEY_FIELDS, "id": "key_new"},
            key=SECRET,
            rotated_from="key_abc",
            previous_key_expires_at=datetime(2026, 1, 2, tzinfo=UTC),
        ),
    ),
    (
        "keys.rotate",
        ("key_abc",),
        {"grace_period": "0s"},
        lambda: ok(ROTATED, 201),
        "POST",
        "/api/v2/keys/key_abc/rotate",
        {"grace_period": "0s"},
        NOT_CHECKED,  # parsing is covered by the case above
    ),
]


def test_public_surface() -> None:
    expected = {
        "Client",
        "AsyncClient",
        "QCOSError",
        "APIError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ValidationError",
        "ConflictError",
        "RateLimitError",
        "APIConnectionError",
        "ConfigurationError",
        "Me",
        "RateLimitInfo",
        "ApiKey",
        "CreatedKey",
        "__version__",
    }
    assert expected <= set(qcos.__all__)
    assert all(hasattr(qcos, name) for name in qcos.__all__)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", qcos.__version__)
    for name in qcos.__all__:
        obj = getattr(qcos, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, QCOSError), name


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "response", "http_method", "path", "body", "expected"),
    METHOD_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(METHOD_CASES)],
)
def test_method_sends_request_and_parses(
    mode: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    response: Callable[[], httpx.Response],
    http_method: str,
    path: str,
    body: Any,
    expected: Any,
) -> None:
    rec = Recorder(response())
    result = call(mode, rec, method, *args, **kwargs)
    assert len(rec.requests) == 1
    request = rec.requests[0]
    assert (request.method, request.url.path) == (http_method, path)
    assert str(request.url).startswith(BASE + "/api/v2/")
    if body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == body
    if expected is not NOT_CHECKED:
        assert result == expected


def test_sends_auth_accept_and_user_agent(mode: str) -> None:
    rec = Recorder(ok(ME))
    call(mode, rec, "me")
    headers = rec.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == f"qcos-python/{qcos.__version__}"


def test_path_segments_are_escaped(mode: str) -> None:
    rec = Recorder(httpx.Response(204))
    call(mode, rec, "keys.revoke", "../me?x=1")
    assert rec.requests[0].url.raw_path == b"/api/v2/keys/..%2Fme%3Fx%3D1"


def test_environment_provides_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_API_KEY", KEY)
    monkeypatch.setenv("QCOS_BASE_URL", "http://env.test/prefix/")
    rec = Recorder(ok(ME))
    with Client(transport=httpx.MockTransport(rec)) as client:
        client.me()
    assert str(rec.requests[0].url) == "http://env.test/prefix/api/v2/me"
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_explicit_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCOS_API_KEY", "qcos_live_from_env")
    monkeypatch.setenv("QCOS_BASE_URL", "http://env.test")
    rec = Recorder(ok(ME))
    with Client(KEY, "http://arg.test", transport=httpx.MockTransport(rec)) as client:
        client.me()
    assert str(rec.requests[0].url) == "http://arg.test/api/v2/me"
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QCOS_BASE_URL", raising=False)
    assert Client(api_key=KEY).base_url == "http://127.0.0.1:8000"
    assert AsyncClient(api_key=KEY).base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize("env", [None, ""])
def test_missing_key_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, cls: type[Client | AsyncClient], env: str | None
) -> None:
    if env is None:
        monkeypatch.delenv("QCOS_API_KEY", raising=False)
    else:
        monkeypatch.setenv("QCOS_API_KEY", env)
    with pytest.raises(ConfigurationError, match="QCOS_API_KEY") as info:
        cls()
    assert isinstance(info.value, QCOSError) and info.value.code == "NO_API_KEY"


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_repr_hides_the_key(cls: type[Client | AsyncClient]) -> None:
    client = cls(api_key=KEY, base_url=BASE)
    assert repr(client) == f"{cls.__name__}(base_url='{BASE}')"
    assert KEY not in repr(client) and KEY not in str(client)


def test_transport_and_http_client_are_exclusive() -> None:
    with httpx.Client() as http, pytest.raises(ConfigurationError, match="not both"):
        Client(api_key=KEY, transport=httpx.MockTransport(Recorder(ok(ME))), http_client=http)


def test_user_http_client_is_used_and_left_open() -> None:
    rec = Recorder(ok(ME))
    with httpx.Client(transport=httpx.MockTransport(rec)) as http:
        with Client(api_key=KEY, base_url=BASE, http_client=http) as client:
            assert client.me().key_id == "key_abc"
        assert not http.is_closed
        assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_own_http_client_is_closed() -> None:
    client = Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(Recorder(ok(ME))))
    with client:
        client.me()
    assert client._http.is_closed


def test_unwrap_false_reads_bare_v1_bodies(mode: str) -> None:
    """Later /api/v1 resources reuse the same reader without the {"data"} envelope."""
    rec = Recorder(httpx.Response(200, json={"id": "cust_x", "plan": "business"}))
    op: Operation[dict[str, Any]] = Operation(
        "GET", "/api/v1/customers/me", lambda body: dict(body), unwrap=False
    )
    assert call(mode, rec, "_run", op) == {"id": "cust_x", "plan": "business"}
    assert rec.requests[0].url.path == "/api/v1/customers/me"


@pytest.mark.anyio
async def test_async_client_context_manager_and_user_client() -> None:
    rec = Recorder(ok(ME), ok({"keys": [KEY_ROW]}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
        async with AsyncClient(api_key=KEY, base_url=BASE, http_client=http) as client:
            assert (await client.me()).account_id == "cust_x"
            assert await client.keys.list() == [API_KEY]
        assert not http.is_closed
    own = AsyncClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(rec))
    async with own:
        await own.keys.list()
    assert own._http.is_closed


@pytest.mark.anyio
async def test_async_client_over_asgi_transport() -> None:
    """ASGITransport works too; a hand-written ASGI app stands in for the server."""
    seen: list[MutableMapping[str, Any]] = []

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope)
        payload = json.dumps({"data": ME}).encode()
        headers = [(b"content-type", b"application/json"), (b"x-request-id", b"req_asgi")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    transport = httpx.ASGITransport(app=app)
    async with AsyncClient(api_key=KEY, base_url="http://testserver", transport=transport) as c:
        me = await c.me()
    assert me.rate_limit.limit == 500
    assert seen[0]["path"] == "/api/v2/me" and seen[0]["method"] == "GET"
    assert (b"authorization", f"Bearer {KEY}".encode()) in seen[0]["headers"]
