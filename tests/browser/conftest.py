"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded
browser) against a real `quantumlock serve` process.

`site` is a module's server with one account and a user of each role (created through the
operator CLI, as an operator would); `open_as(role)` gives a page signed in through the
portal's own sign-in form; `axe_violations(page)` runs axe-core (WCAG 2.1 A/AA) in the page;
`screenshot(page, name)` writes docs/screenshots/<name>.png when QL_SCREENSHOTS is set
(`make screenshots`), and nothing otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path(os.environ.get("QL_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
    "--mute-audio",
]
PASSWORD = "correct horse battery 9"
ROLES = ("owner", "admin", "member", "viewer")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# axe-core, as the axe-playwright-python package ships it (no CDN, no npm at test time).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@dataclass
class Site:
    server: Server
    account_id: str
    api_key: str  # the account's first admin key (for SDK checks)
    emails: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url


def _set_password(base_url: str, link: str, password: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        page = client.get(link)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        done = client.post(
            link, data={"csrf_token": token.group(1), "password": password, "confirm": password}
        )
        assert done.status_code == 200, done.text


def make_site(tmp: Path) -> Site:
    server = start_server(tmp, None)
    try:
        server.env["QL_ISSUER"] = server.base_url
        made: Any = server.cli_json(
            "accounts",
            "create",
            "--name",
            "Acme Robotics",
            "--email",
            "billing@acme.example",
            "--owner-email",
            "owner@acme.example",
        )
        _set_password(server.base_url, made["owner"]["set_password_url"], PASSWORD)
        site = Site(server, made["id"], made["api_key"], {"owner": "owner@acme.example"})
        for role in ROLES[1:]:
            email = f"{role}@acme.example"
            server.cli(
                "users",
                "create",
                "--account",
                made["id"],
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
                check=True,
                stdin=PASSWORD + "\n",
            )
            site.emails[role] = email
        return site
    except BaseException:
        stop_server(server)
        raise


# One server for every browser test (they run on one xdist worker, the "browser" group): each
# test makes the objects it works on, so tests do not depend on one another.
@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = make_site(tmp_path_factory.mktemp("portal"))
    try:
        yield made
    finally:
        stop_server(made.server)


# Per module, not per session: while Playwright's sync API runs, its event loop is the
# thread's running loop, and every later test of the worker calling asyncio.run() failed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (make test-system-deps installs it)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class CspWatch:
    """Console messages about a Content-Security-Policy refusal (inline script or style,
    a foreign origin): a page that triggers one is broken under the portal's CSP."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def __call__(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)


@pytest.fixture
def open_as(browser: Any, site: Site) -> Iterator[Callable[..., Any]]:
    """`open_as(role, width=1280)`: a new browser context (its own cookies, clipboard
    allowed) with a page signed in as that role's user, on the portal's overview."""
    contexts: list[Any] = []

    def open_page(role: str | None = None, *, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            base_url=site.base_url,
            viewport={"width": width, "height": height},
            permissions=["clipboard-read", "clipboard-write"],
        )
        contexts.append(context)
        page = context.new_page()
        watch = CspWatch()
        page.on("console", watch)
        page.csp = watch  # the test may assert `page.csp.violations == []`
        if role is not None:
            sign_in(page, site.emails[role])
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/portal/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/portal(/.*)?$"))


def _axe_source() -> str:
    spec = importlib.util.find_spec("axe_playwright_python")
    assert spec is not None and spec.origin is not None, "pip install axe-playwright-python"
    return (Path(spec.origin).parent / "axe.min.js").read_text("utf-8")


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of `impacts` on the page, one line each.
    Evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    found = []
    for violation in result["violations"]:
        if violation["impact"] in impacts:
            targets = [node["target"] for node in violation["nodes"]][:5]
            found.append(f"{violation['id']} ({violation['impact']}): {json.dumps(targets)}")
    return found


def screenshot(page: Any, name: str) -> None:
    """docs/screenshots/<name>.png, when QL_SCREENSHOTS is set (make screenshots)."""
    if os.environ.get("QL_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
