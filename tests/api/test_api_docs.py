"""#18 item 2: `/docs` and `/redoc` work without internet, and `GET /` points to them.

The pages must name only assets of this service (same origin: a path, never a scheme or a
host), and each of those must be served here with the right content type. Before, FastAPI's
pages loaded Swagger UI and ReDoc from a CDN: a blank page on a machine without internet.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

ASSET_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


class _Assets(HTMLParser):
    """Every `src`/`href` of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def assets_of(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_assets_this_service_serves(client: TestClient, page: str) -> None:
    resp = client.get(page)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    # No other origin anywhere in the page: not in a tag, not in the inline script.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", html, re.I), html
    urls = assets_of(html)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert asset.headers["content-type"].startswith(ASSET_TYPES[suffix]), url
        assert len(asset.content) > 500, url
    # The page's script loads the document from here too.
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    assert client.get("/openapi.json").status_code == 200


def test_swagger_ui_calls_no_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_redoc_logo_is_served_where_the_bundle_looks_for_it(client: TestClient) -> None:
    """The bundle reads its logo from the page's own path + `/logo-mini.svg`."""
    bundle = client.get("/redoc/redoc.standalone.js").text
    assert 'window.location.pathname+"/logo-mini.svg"' in bundle
    assert "cdn.redoc.ly" not in bundle
    logo = client.get("/redoc/logo-mini.svg")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/svg+xml"


def test_the_assets_licences_are_served_beside_them(client: TestClient) -> None:
    swagger = client.get("/docs/LICENSE")
    assert swagger.status_code == 200 and b"Apache License" in swagger.content
    redoc = client.get("/redoc/redoc.standalone.js.LICENSE.txt")
    assert redoc.status_code == 200


def test_docs_assets_outside_the_package_are_not_served(client: TestClient) -> None:
    for path in ("/docs/nope.js", "/docs/../app.py", "/docs/%2e%2e/pyproject.toml"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["code"] == "NOT_FOUND"


def test_root_redirects_to_docs_and_says_where_everything_is(client: TestClient) -> None:
    resp = client.get("/", follow_redirects=False)
    assert resp.status_code == 307
    assert resp.headers["location"] == "/docs"
    body = resp.json()
    assert body["docs"] == "/docs" and body["redoc"] == "/redoc"
    assert body["openapi"] == "/openapi.json" and body["health"] == "/health"
    followed = client.get("/")
    assert followed.status_code == 200 and "swagger-ui" in followed.text
    for path in ("/", "/docs", "/redoc", "/docs/swagger-ui.css"):  # `curl -I` works too
        assert client.head(path, follow_redirects=False).status_code in {200, 307}, path


def test_docs_follow_the_root_path_behind_a_proxy(client: TestClient) -> None:
    """Under a proxy prefix (ASGI root_path) the page names its assets under the prefix."""
    assert "/docs/swagger-ui-bundle.js" in client.get("/docs").text
    prefixed = TestClient(client.app, root_path="/ql")
    page = prefixed.get("/docs").text
    assert all(url.startswith("/ql/") for url in assets_of(page)), page
    assert "'/ql/openapi.json'" in page


def test_docs_are_not_in_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc"} & set(paths)
