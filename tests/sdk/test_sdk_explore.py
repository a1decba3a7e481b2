"""An SDK to explore (#18): documented errors, `help()` that lists the resources,
`last_response`, and paged `keys`. (Its Literal types are compared with the server's enums in
tests/api/test_sdk_vocabulary_api.py, which may import the server.)"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import pydoc
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import qcos
from qcos import AsyncClient, Client, NotFoundError, RateLimitError
from qcos._models import KeyPage
from tests.sdk.conftest import BASE, KEY, KEY_ROW, Recorder, api_error, call, ok

# Every resource class with its twin, and the clients' own API methods.
RESOURCES: list[tuple[type, type]] = [
    (qcos.Keys, qcos.AsyncKeys),
    (qcos.Licenses, qcos.AsyncLicenses),
    (qcos.Customers, qcos.AsyncCustomers),
    (qcos.Quantum, qcos.AsyncQuantum),
]
CLIENT_API_METHODS = ["me"]
# Lifecycle, not API calls: nothing to raise but the transport's own close errors.
LIFECYCLE = {"close", "aclose"}


def public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in vars(cls).items():
        if not name.startswith("_") and callable(member):
            yield name, member


def api_methods() -> list[tuple[str, Callable[..., Any]]]:
    out: list[tuple[str, Callable[..., Any]]] = []
    for pair in RESOURCES:
        for cls in pair:
            out.extend((f"{cls.__name__}.{n}", m) for n, m in public_methods(cls))
    for cls in (Client, AsyncClient):
        for name, member in public_methods(cls):
            if name not in LIFECYCLE:
                out.append((f"{cls.__name__}.{name}", member))
    return out


RAISES = re.compile(r"^\s*Raises:\s*\n((?:\s{4,}\w+Error\b.*\n?(?:\s{8,}.*\n?)*)+)", re.M)


def test_the_method_list_is_not_empty() -> None:
    names = {name for name, _ in api_methods()}
    assert {"Keys.update", "AsyncKeys.iter", "Quantum.encrypt", "Client.me"} <= names
    assert {n for n in names if n.startswith("Client.")} == {"Client.me"}


@pytest.mark.parametrize(
    ("name", "method"), api_methods(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_public_method_documents_its_errors(name: str, method: Callable[..., Any]) -> None:
    doc = inspect.getdoc(method) or ""
    found = RAISES.search(doc + "\n")
    assert found, f"{name}: no 'Raises:' section in its docstring:\n{doc}"
    for line in found.group(1).splitlines():
        listed = line.strip().split(":", 1)[0]
        if line.startswith("    ") and not line.startswith("        ") and listed:
            assert isinstance(getattr(qcos, listed, None), type), f"{name}: {listed} unknown"


def test_twins_have_the_same_methods_signatures_and_docs() -> None:
    for sync, twin in RESOURCES:
        assert dict(public_methods(sync)).keys() == dict(public_methods(twin)).keys()
        for name, method in public_methods(sync):
            other = getattr(twin, name)
            assert inspect.getdoc(other) == inspect.getdoc(method), f"{twin.__name__}.{name}"
            assert inspect.signature(other).parameters == inspect.signature(method).parameters


# -- help() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "resources"),
    [
        (Client, ["Keys", "Licenses", "Customers", "Quantum"]),
        (AsyncClient, ["AsyncKeys", "AsyncLicenses", "AsyncCustomers", "AsyncQuantum"]),
    ],
)
def test_help_on_a_client_lists_its_resources(cls: type, resources: list[str]) -> None:
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    for attribute, resource in zip(
        ("keys", "licenses", "customers", "quantum"), resources, strict=True
    ):
        assert f"`{attribute}` (`qcos.{resource}`)" in text
        assert isinstance(getattr(qcos, resource), type)
    assert "last_response" in text and "me()" in text


def test_help_on_a_resource_shows_each_methods_errors() -> None:
    with Client(api_key=KEY, base_url=BASE) as client:
        text = pydoc.render_doc(client.keys, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    for method in ("list", "iter", "get", "update", "create", "revoke", "rotate"):
        assert f"{method}(self" in text
    assert "NotFoundError: no such key" in text


# -- last_response ---------------------------------------------------------------------------

LIMIT_HEADERS = {
    "x-request-id": "req_42",
    "x-ratelimit-limit": "100",
    "x-ratelimit-remaining": "97",
    "x-ratelimit-reset": "1767225660",
}
QUOTA_HEADERS = {"x-quota-limit": "100", "x-quota-remaining": "3", "x-quota-reset": "1769904000"}


def run_twice(mode: str, handler: Recorder, first: str, second: str) -> tuple[Any, Any]:
    """Two calls on one client; the client's last_response after each."""
    options: dict[str, Any] = {
        "api_key": KEY,
        "base_url": BASE,
        "transport": httpx.MockTransport(handler),
        "max_retries": 0,
    }
    seen: list[Any] = []

    def attempt(run: Callable[[], Any], client: Any) -> None:
        with contextlib.suppress(qcos.QCOSError):
            run()
        seen.append(client.last_response)

    if mode == "sync":
        with Client(**options) as client:
            assert client.last_response is None
            for name in (first, second):
                attempt(_dig(client, name), client)
        return seen[0], seen[1]

    async def scenario() -> None:
        async with AsyncClient(**options) as client:
            assert client.last_response is None
            for name in (first, second):
                with contextlib.suppress(qcos.QCOSError):
                    await _dig(client, name)()
                seen.append(client.last_response)

    asyncio.run(scenario())
    return seen[0], seen[1]


def _dig(client: Any, name: str) -> Any:
    target = client
    for part in name.split("."):
        target = getattr(target, part)
    return target


def test_last_response_has_the_request_id_rate_limit_and_quota(mode: str) -> None:
    license_body = {
        "licenses": [],
        "total": 0,
        "skip": 0,
        "limit": 100,
    }
    handler = Recorder(
        httpx.Response(200, json=license_body, headers={**LIMIT_HEADERS, **QUOTA_HEADERS}),
        httpx.Response(
            200,
            json=license_body,
            headers={
                **LIMIT_HEADERS,
                "x-quota-limit": "unlimited",
                "x-quota-remaining": "unlimited",
                "x-quota-reset": "1769904000",
            },
        ),
    )
    first, second = run_twice(mode, handler, "licenses.list", "licenses.list")
    assert isinstance(first, qcos.ResponseInfo)
    assert (first.status_code, first.method, first.path) == (200, "GET", "/api/v1/licenses")
    assert first.request_id == "req_42" and first.headers["x-ratelimit-remaining"] == "97"
    reset = datetime.fromtimestamp(1767225660, UTC)
    assert first.rate_limit == qcos.RateLimitInfo(100, 97, reset)
    assert first.quota == qcos.QuotaInfo(100, 3, datetime(2026, 2, 1, tzinfo=UTC))
    assert not first.quota.unlimited
    assert second.quota is not None and second.quota.unlimited and second.quota.remaining is None


def test_last_response_is_kept_after_an_error_and_says_what_is_missing(mode: str) -> None:
    handler = Recorder(
        ok({"keys": [], "has_more": False, "next_cursor": None}),
        api_error(404, "NOT_FOUND"),
    )
    first, second = run_twice(mode, handler, "keys.list", "keys.list")
    assert first.status_code == 200 and first.rate_limit is None and first.quota is None
    assert second.status_code == 404 and second.request_id == "req_1"


def test_errors_carry_the_request_id(mode: str) -> None:
    with pytest.raises(NotFoundError) as info:
        call(mode, Recorder(api_error(404, "NOT_FOUND")), "keys.get", "key_x")
    assert info.value.request_id == "req_1"
    with pytest.raises(RateLimitError) as limited:
        call(
            mode,
            Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=999)),
            "keys.get",
            "key_x",
        )
    assert limited.value.request_id == "req_1"


# -- keys: pages, get, update -----------------------------------------------------------------


def key_row(n: int) -> dict[str, Any]:
    return {**KEY_ROW, "id": f"key_{n}", "metadata": {"n": n}}


def paged(rows: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """A server that pages `rows` by limit and cursor (the cursor is the last id seen)."""

    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        cursor = request.url.params.get("cursor")
        start = 0 if cursor is None else [r["id"] for r in rows].index(cursor) + 1
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return ok({"keys": page, "has_more": more, "next_cursor": page[-1]["id"] if more else None})

    return handler


def test_keys_list_is_a_page_and_iter_walks_them_all(mode: str) -> None:
    rows = [key_row(n) for n in range(5)]
    requests: list[httpx.Request] = []
    server = paged(rows)

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return server(request)

    page = call(mode, handler, "keys.list", limit=2)
    assert isinstance(page, list)
    assert isinstance(page, KeyPage)
    assert [k.id for k in page] == ["key_0", "key_1"] == [k.id for k in page.keys]
    assert page.has_more and page.next_cursor == "key_1"
    assert page[0].metadata == {"n": 0}
    after = call(mode, handler, "keys.list", limit=2, cursor=page.next_cursor)
    assert [k.id for k in after] == ["key_2", "key_3"]

    requests.clear()
    if mode == "sync":
        with Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as c:
            walked = [k.id for k in c.keys.iter(page_size=2)]
    else:

        async def scenario() -> list[str]:
            transport = httpx.MockTransport(handler)
            async with AsyncClient(api_key=KEY, base_url=BASE, transport=transport) as c:
                return [k.id async for k in c.keys.iter(page_size=2)]

        walked = asyncio.run(scenario())
    assert walked == [f"key_{n}" for n in range(5)]
    assert [r.url.params.get("cursor") for r in requests] == [None, "key_1", "key_3"]


def test_keys_from_an_older_server_are_one_page(mode: str) -> None:
    page = call(mode, Recorder(ok({"keys": [KEY_ROW]})), "keys.list")
    assert len(page) == 1 and page.has_more is False and page.next_cursor is None
    assert page[0].metadata == {}


def test_keys_get_and_update_send_what_they_should(mode: str) -> None:
    handler = Recorder(ok(key_row(7)))
    got = call(mode, handler, "keys.get", "key/7")
    assert got.id == "key_7" and got.metadata == {"n": 7}
    assert handler.requests[-1].method == "GET"
    assert handler.requests[-1].url.raw_path == b"/api/v2/keys/key%2F7"

    call(mode, handler, "keys.update", "key_7", scopes=["licenses:read"], metadata={"a": 1})
    sent = handler.requests[-1]
    assert sent.method == "PATCH" and sent.url.path == "/api/v2/keys/key_7"
    assert httpx.Response(200, content=sent.content).json() == {
        "scopes": ["licenses:read"],
        "metadata": {"a": 1},
    }
    call(mode, handler, "keys.update", "key_7", name="renamed")
    assert httpx.Response(200, content=handler.requests[-1].content).json() == {"name": "renamed"}


def test_keys_update_is_retried_on_a_lost_connection(mode: str, slept: list[float]) -> None:
    handler = Recorder(httpx.ConnectError("reset"), ok(key_row(1)))
    assert call(mode, handler, "keys.update", "key_1", name="x").id == "key_1"
    assert len(handler.requests) == 2
