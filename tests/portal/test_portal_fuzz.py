"""Every portal route, given hostile input by a signed-in owner: odd path parameters,
query strings and form fields (with a valid CSRF token, so the handler itself runs). The
answer is never a 5xx, always an HTML page or a redirect, never a traceback."""

from __future__ import annotations

import itertools
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.settings import Settings
from tests.conftest import AccountFixture
from tests.portal.matrix import portal_routes
from tests.portal.support import portal_user

NASTY = [
    "",
    " ",
    "'; DROP TABLE users; --",
    "<script>alert(1)</script>",
    "\u202e\u0000x",
    "../../etc/passwd",
    "9" * 40,
    "-1",
    "x" * 5000,
    "ünïcödé✓",
    "2026-13-45",
    "null",
]
QUERY_NAMES = ["q", "status", "cursor", "page", "from", "to", "type", "feature", "customer"]


def routes_of(settings: Settings) -> list[tuple[str, str]]:
    app = create_app(settings)
    try:
        return sorted(r for r in portal_routes(app) if r[1] != "/portal/logout")
    finally:
        app.state.runtime.engine.dispose()


def fill(path: str, value: str) -> str:
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        _, _, rest = tail.partition("}")
        out += head + (quote(value, safe="") or "x")
    return out + rest


def test_portal_routes_survive_hostile_input(
    settings: Settings, app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    token = owner.csrf()
    seen = 0
    for (method, path), value in itertools.product(routes_of(settings), NASTY[:6]):
        url = fill(path, value)
        if method == "GET":
            answer = owner.client.get(
                url, params={name: value for name in QUERY_NAMES}, follow_redirects=False
            )
        else:
            form = {name: value for name in [*QUERY_NAMES, "name", "email", "role", "scopes"]}
            answer = owner.client.post(
                url, data={"csrf_token": token, **form}, follow_redirects=False
            )
        seen += 1
        assert answer.status_code < 500, (method, url, answer.status_code, answer.text[:500])
        assert "Traceback" not in answer.text
        if answer.status_code not in (204, 303, 304):
            kind = answer.headers.get("content-type", "")
            assert kind.startswith(
                (
                    "text/html",
                    "text/csv",
                    "application/octet-stream",
                    "application/json",
                    "text/plain",
                )
            ), (url, kind)
    assert seen > 0


@pytest.mark.parametrize("value", NASTY[6:])
def test_long_and_odd_values_on_forms(
    value: str, app: FastAPI, client: TestClient, account: AccountFixture, settings: Settings
) -> None:
    owner = portal_user(app, account, "owner")
    token = owner.csrf()
    for method, path in routes_of(settings):
        if method != "POST":
            continue
        answer = owner.client.post(
            fill(path, value),
            data={"csrf_token": token, "name": value, "email": value, "scopes": value},
            follow_redirects=False,
        )
        assert answer.status_code < 500, (path, answer.status_code, answer.text[:500])
