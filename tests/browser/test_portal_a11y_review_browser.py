"""Review sweep: axe-core (serious and critical WCAG 2.1 A/AA violations) on every portal
page at phone width (375px) and at desktop width, including the error pages (400, 403, 404),
forms sent back with an error, and empty states; no page scrolls sideways on a phone; the
forms can be used with the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Site, axe_violations

pytestmark = pytest.mark.xdist_group("browser")

WIDTHS = (375, 1280)


def _objects(site: Site) -> dict[str, str]:
    """One object of each kind, made through the API, for the detail pages."""
    headers = {"Authorization": f"Bearer {site.api_key}"}
    with httpx.Client(base_url=site.base_url, headers=headers, timeout=10) as api:
        key = api.post(
            "/api/v2/keys",
            json={"name": "a11y sweep", "scopes": ["licenses:read"], "type": "restricted"},
        )
        assert key.status_code == 201, key.text
        lic = api.post(
            "/api/v1/licenses/generate",
            json={"end_customer_id": "a11y-sweep", "features": ["f"], "valid_days": 30},
        )
        assert lic.status_code in (200, 201), lic.text
        account = api.post(
            "/api/v2/service-accounts", json={"name": "a11y sweep", "scopes": ["licenses:read"]}
        )
        client = api.post(
            "/api/v2/oauth-clients",
            json={
                "name": "a11y sweep",
                "redirect_uris": ["https://app.example/cb"],
                "scopes": ["licenses:read"],
            },
        )
    found = {"key": key.json()["data"]["id"], "license": lic.json()["license_key"]}
    assert account.status_code == 201 and client.status_code == 201, account.text + client.text
    found["service_account"] = _id(account.json()["data"])
    found["oauth_client"] = _id(client.json()["data"])
    return found


def _id(data: dict[str, Any]) -> str:
    for value in data.values():
        if isinstance(value, dict) and "id" in value:
            return str(value["id"])
    return str(data.get("id") or data["client_id"])


def _pages(objects: dict[str, str]) -> list[str]:
    key, lic = objects["key"], objects["license"]
    pages = [
        "/portal",
        "/portal/settings/api-keys",
        "/portal/settings/api-keys/new",
        f"/portal/settings/api-keys/{key}",
        f"/portal/settings/api-keys/{key}/rotate",
        f"/portal/settings/api-keys/{key}/revoke",
        "/portal/settings/api-keys/key_nosuchkey",  # 404 page
        "/portal/licenses",
        "/portal/licenses?q=no-such-customer-anywhere",  # empty search
        "/portal/licenses?status=bogus",  # 400 with the filters kept
        "/portal/licenses/new",
        f"/portal/licenses/{lic}",
        f"/portal/licenses/{lic}/revoke",
        "/portal/licenses/QLOCK-0000-0000",  # 404
        "/portal/licenses/signing-keys",
        "/portal/licenses/signing-keys/rotate",
        "/portal/usage",
        "/portal/keystore",
        "/portal/keystore?page=x",
        "/portal/entropy",
        "/portal/account/members",
        "/portal/account/members/invite",
        "/portal/account/service-accounts",
        "/portal/account/service-accounts/new",
        "/portal/account/oauth-clients",
        "/portal/account/oauth-clients/new",
        "/portal/account/sso",
        "/portal/account/audit",
        "/portal/account/audit?since=not-a-date",
        "/portal/account/audit?actor=nobody-at-all",  # empty trail
        "/portal/settings/security",
    ]
    for kind, base in (
        ("service_account", "/portal/account/service-accounts"),
        ("oauth_client", "/portal/account/oauth-clients"),
    ):
        if kind in objects:
            pages += [f"{base}/{objects[kind]}", f"{base}/{objects[kind]}/delete"]
    return pages


def _scan(page: Any, label: str, width: int, problems: list[str]) -> None:
    for line in axe_violations(page):
        problems.append(f"{width}px {label}: {line}")
    if width <= 375 and page.evaluate("document.documentElement.scrollWidth") > width:
        problems.append(f"{width}px {label}: the page scrolls sideways")


def _send_invalid(page: Any, url: str) -> None:
    """Open a form and send it empty (the browser's own checks off), as a server-side
    error shows it."""
    page.goto(url)
    page.evaluate("for (const f of document.querySelectorAll('main form')) f.noValidate = true")
    page.locator("main form button[type=submit], main form button:not([type])").last.click()
    page.wait_for_load_state()


def test_every_portal_page_passes_axe_at_phone_and_desktop_width(open_as: Any, site: Site) -> None:
    objects = _objects(site)
    problems: list[str] = []
    for width in WIDTHS:
        anonymous = open_as(width=width)
        for url in ("/portal/login", "/portal/login/forgot"):
            anonymous.goto(url)
            _scan(anonymous, url, width, problems)
        owner = open_as("owner", width=width)
        for url in _pages(objects):
            owner.goto(url)
            _scan(owner, url, width, problems)
        for url in (
            "/portal/settings/api-keys/new",
            "/portal/licenses/new",
            "/portal/account/members/invite",
            "/portal/account/service-accounts/new",
            "/portal/account/oauth-clients/new",
        ):
            _send_invalid(owner, url)
            _scan(owner, url + " (sent with errors)", width, problems)
        viewer = open_as("viewer", width=width)
        viewer.goto("/portal/settings/api-keys/new")  # the 403 page
        _scan(viewer, "403 page", width, problems)
        assert owner.csp.violations == [] and viewer.csp.violations == []
    assert problems == [], "\n".join(problems)


def test_a_key_can_be_created_with_the_keyboard_alone(open_as: Any) -> None:
    page = open_as("owner", width=375, height=740)
    page.goto("/portal/settings/api-keys/new")
    page.get_by_label("Name").focus()
    page.keyboard.type("keyboard only")
    # Tab through the form to the submit button and press it, touching nothing with a mouse.
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "document.activeElement.tagName + ':' + (document.activeElement.value || '')"
        )
        if focused.startswith("INPUT:licenses:read"):
            page.keyboard.press("Space")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "API key created"
    secret = page.locator("main input[readonly]").first.input_value()
    assert re.fullmatch(r"qcos_rkey_[0-9A-Za-z]{38}", secret)
