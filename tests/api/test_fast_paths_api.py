"""Validation served past FastAPI (quantumlock.web.fastpath) answers exactly as FastAPI does.

Two apps on one database: the default one, which serves POST /api/v1/licenses/validate from
the middleware, and one with QL_FAST_PATHS=false, which serves it through the FastAPI route.
One battery of requests (every validation code, every error the route can give) goes to
each, in the same order, each app with its own fresh rate-limit state; the answers must be
the same but for request ids and timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from quantumlock.app import create_app
from quantumlock.licensing import endpoints
from quantumlock.settings import Settings
from tests.api.test_auth_api import create_key
from tests.api.test_licenses_api import GEN, VAL, generate
from tests.conftest import AccountFixture, bearer

Call = Callable[[TestClient], Response]


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts requests the fast handler served (patched before the apps are built)."""
    calls: list[int] = []
    served = endpoints.validate_fast

    async def counting(request: Any) -> Any:
        calls.append(1)
        return await served(request)

    monkeypatch.setattr("quantumlock.app.validate_fast", counting)
    return calls


@pytest.fixture
def both(settings: Settings, fast_calls: list[int]) -> Iterator[tuple[TestClient, TestClient]]:
    fast = create_app(settings)
    slow = create_app(settings.model_copy(update={"fast_paths": False}))
    with (
        TestClient(fast, raise_server_exceptions=False) as a,
        TestClient(slow, raise_server_exceptions=False) as b,
    ):
        yield a, b


def body(license_key: str, customer: str = "customer@company.com", **extra: Any) -> dict[str, Any]:
    return {"license_key": license_key, "end_customer_id": customer, **extra}


def normalised(resp: Response) -> tuple[Any, ...]:
    try:
        data: Any = resp.json()
    except ValueError:
        data = resp.text
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("request_id", "timestamp")}
    headers = {
        name: resp.headers.get(name)
        for name in ("content-type", "x-ratelimit-limit", "retry-after", "allow")
    }
    present = tuple(
        name in resp.headers
        for name in ("x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset")
    )
    return resp.status_code, data, headers, present


def battery(account: AccountFixture, make_account: Any, client: TestClient) -> list[Call]:
    """Every answer POST /validate can give, as calls to run against either app."""
    admin = account.admin_key
    live = generate(client, admin, features=["premium"])["license_key"]
    suspended = generate(client, admin)["license_key"]
    client.post(f"/api/v1/licenses/{suspended}/suspend", headers=bearer(admin))
    revoked = generate(client, admin)["license_key"]
    client.post(f"/api/v1/licenses/{revoked}/revoke", headers=bearer(admin))
    test_key = create_key(client, admin, type="test", scopes=["licenses:validate"])["key"]
    no_scope = create_key(client, admin, scopes=["account:read"])["key"]
    gone = create_key(client, admin, scopes=["licenses:validate"])
    client.delete(f"/api/v2/keys/{gone['id']}", headers=bearer(admin))
    other = make_account(name="Other Corp")
    theirs = generate(client, other.admin_key)["license_key"]
    small = make_account(plan="free", name="Small Corp")
    mine = generate(client, small.admin_key)["license_key"]

    def post(key: str | None, payload: Any, **kw: Any) -> Call:
        headers = bearer(key) if key else {}
        headers.update(kw.pop("headers", {}))
        if isinstance(payload, (bytes, str)):
            return lambda c: c.post(VAL, content=payload, headers=headers)
        return lambda c: c.post(VAL, json=payload, headers=headers)

    calls: list[Call] = [
        post(admin, body(live)),
        post(admin, body(live.lower())),
        post(admin, body(f"  {live}  ")),
        post(admin, body("QLOCK-0000-0000-0000")),
        post(admin, body(live, "someone@else.com")),
        post(admin, body(live, features=["premium"])),
        post(admin, body(live, features=["premium", "gold"])),
        post(admin, body(suspended)),
        post(admin, body(revoked)),
        post(admin, body(theirs)),  # another tenant's license: not found
        post(test_key, body(live)),  # test mode does not see live licenses
        post(admin, b"{not json"),
        post(admin, b""),
        post(admin, {"license_key": live}),
        post(admin, {"license_key": 5, "end_customer_id": "x"}),
        post(admin, body(live, unexpected=True)),
        post(admin, body("")),
        post(admin, body(live, features="premium")),
        post(admin, b"[1, 2]"),
        post(admin, body(live), headers={"Content-Type": "text/plain"}),
        post(None, body(live)),
        post(None, body(live), headers={"X-API-Key": admin}),
        post(None, body(live), headers={"Authorization": "Basic abc"}),
        post("qcos_live_" + "A" * 40, body(live)),
        post(no_scope, body(live)),
        post(gone["key"], body(live)),
        post(admin, b"x" * (2 * 1024 * 1024)),
        lambda c: c.get(VAL, headers=bearer(admin)),
        lambda c: c.put(VAL, json=body(live), headers=bearer(admin)),
    ]
    # The free plan's /api/v1 limit (burst 10): the 11th and 12th are refused with 429.
    calls += [post(small.admin_key, body(mine)) for _ in range(12)]
    return calls


def test_fast_and_framework_paths_answer_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    account: AccountFixture,
    make_account: Any,
    fast_calls: list[int],
) -> None:
    fast, slow = both
    # Set up through a third app, so that neither app's rate-limit state is touched first.
    calls = battery(account, make_account, client)
    fast_answers = [normalised(call(fast)) for call in calls]
    served_fast = len(fast_calls)
    slow_answers = [normalised(call(slow)) for call in calls]
    assert len(fast_calls) == served_fast, "the QL_FAST_PATHS=false app used the fast path"
    for i, (a, b) in enumerate(zip(fast_answers, slow_answers, strict=True)):
        assert a == b, f"request {i}: fast {a} != framework {b}"
    statuses = [answer[0] for answer in fast_answers]
    assert {200, 400, 401, 403, 405, 413, 429} <= set(statuses)
    codes = {a[1].get("code") for a in fast_answers if isinstance(a[1], dict)}
    assert {
        "VALID",
        "NOT_FOUND",
        "CUSTOMER_MISMATCH",
        "FEATURES_MISSING",
        "SUSPENDED",
        "REVOKED",
        "VALIDATION_ERROR",
        "UNAUTHORIZED",
        "KEY_REVOKED",
        "INSUFFICIENT_SCOPE",
        "RATE_LIMIT_EXCEEDED",
    } <= codes
    # Every POST that got past the body-size check was answered by the fast handler.
    posts_answered = sum(1 for s in statuses if s != 413) - 2  # minus GET and PUT (405)
    assert served_fast == posts_answered


def test_the_fast_route_is_documented_and_labelled_like_the_framework_route(
    both: tuple[TestClient, TestClient], account: AccountFixture
) -> None:
    fast, slow = both
    lic = generate(fast, account.admin_key)["license_key"]
    assert fast.post(VAL, json=body(lic), headers=bearer(account.admin_key)).status_code == 200
    spec = fast.get("/openapi.json").json()
    assert spec == slow.get("/openapi.json").json()
    operation = spec["paths"][VAL]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    metrics = fast.get("/metrics").text
    assert f'route="{VAL}",status="200"' in metrics
    assert GEN in metrics


def test_settings_switch_the_fast_path_off(settings: Settings) -> None:
    assert Settings().fast_paths is True
    app: FastAPI = create_app(settings.model_copy(update={"fast_paths": False}))
    with TestClient(app) as client:
        assert client.post(VAL, json=body("QLOCK-0000-0000-0000")).status_code == 401
