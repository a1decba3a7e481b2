"""Every portal answer carries the portal's headers, errors included: a mistyped portal
address (404) or a wrong method (405) was the API's JSON, without the framing ban
(X-Frame-Options / CSP frame-ancestors), no-store, nosniff or the referrer policy. The
API's own errors stay JSON."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.portal.support import portal_user


def _portal_headers(headers: httpx.Headers) -> None:
    get = headers.get
    assert get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in get("content-security-policy", "")
    assert get("cache-control") == "no-store"
    assert get("x-content-type-options") == "nosniff"
    assert get("referrer-policy") == "no-referrer"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/portal/no-such-page", 404),
        ("GET", "/portal/settings/api-keys/a/b/c", 404),
        ("GET", "/portal/logout", 405),
        ("PUT", "/portal/settings/security", 405),
        ("GET", "/portal/static/no-such-file.js", 404),
    ],
)
def test_portal_errors_carry_the_portal_headers(
    app: FastAPI, client: TestClient, account: AccountFixture, method: str, path: str, status: int
) -> None:
    for who in (client, portal_user(app, account, "viewer").client):
        answer = who.request(method, path, follow_redirects=False)
        assert answer.status_code == status
        _portal_headers(answer.headers)
        if path.startswith("/portal/static/"):
            continue
        assert answer.headers["content-type"].startswith("text/html")
        assert "<h1>" in answer.text


def test_the_api_errors_stay_json(client: TestClient) -> None:
    answer = client.get("/api/v2/no-such-route")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
