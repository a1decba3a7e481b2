"""API keys in a real browser: an owner creates a restricted key, copies it with the Copy
button, the SDK works with it, the owner revokes it and the SDK is refused; a viewer may
not create keys; a form without its CSRF token is refused. axe and the CSP on each page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qcos import AuthenticationError, Client
from tests.browser.conftest import Site, axe_violations, screenshot

BASE = "/portal/settings/api-keys"
SCOPES = ("account:read", "licenses:read")

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def _checkbox(page: Any, scope: str) -> Any:
    return page.get_by_role("checkbox", name=re.compile("^" + re.escape(scope) + " "))


def test_create_copy_use_and_revoke_a_restricted_key(open_as: Any, site: Site) -> None:
    page = open_as("owner")
    page.goto(BASE)
    assert page.get_by_role("heading", level=1).inner_text() == "API keys"
    assert axe_violations(page) == []
    screenshot(page, "api-keys")

    page.get_by_role("link", name="Create API key").click()
    page.wait_for_url(f"**{BASE}/new")
    assert axe_violations(page) == []
    page.get_by_label("Name").fill("Robot fleet reader")
    page.get_by_label("Type").select_option("restricted")
    for scope in SCOPES:
        _checkbox(page, scope).check()
    page.get_by_label("Expiration").select_option(label="90 days")
    before = datetime.now(UTC)
    page.get_by_role("button", name="Create key").click()
    assert page.get_by_role("heading", level=1).inner_text() == "API key created"
    assert "API keys are shown only once. Store them securely." in page.content()
    assert axe_violations(page) == []
    screenshot(page, "api-keys-secret")

    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    secret = page.evaluate("navigator.clipboard.readText()")
    assert secret.startswith("qcos_rkey_")
    assert secret == page.locator("#secret").input_value()

    with Client(api_key=secret, base_url=site.base_url, max_retries=0) as sdk:
        me = sdk.me()
        assert me.type == "restricted" and sorted(me.scopes) == sorted(SCOPES)
        assert me.expires_at is not None
        assert before + timedelta(days=90) - timedelta(minutes=5) <= me.expires_at
        assert me.expires_at <= datetime.now(UTC) + timedelta(days=90)

        page.get_by_role("link", name="I have stored it: show the key").click()
        assert secret not in page.content()
        page.get_by_role("link", name="Revoke key").click()
        page.wait_for_url("**/revoke")
        assert axe_violations(page) == []
        page.get_by_role("button", name="Revoke key").click()
        page.wait_for_url(f"**{BASE}?done=revoked")
        assert page.get_by_role("status").inner_text().startswith("The key is revoked")
        assert "Robot fleet reader" not in page.content() and secret not in page.content()
        with pytest.raises(AuthenticationError):
            sdk.me()
    assert page.csp.violations == []


def test_viewer_is_denied_and_a_form_without_csrf_is_refused(open_as: Any, site: Site) -> None:
    viewer = open_as("viewer")
    viewer.goto(BASE)
    assert viewer.get_by_role("link", name="Create API key").count() == 0
    assert axe_violations(viewer) == []
    denied = viewer.goto(f"{BASE}/new")
    assert denied is not None and denied.status == 403
    assert "Your role does not allow you to create API keys." in viewer.content()
    token = viewer.locator('input[name="csrf_token"]').first.input_value()
    form = {"csrf_token": token, "name": "Viewer key", "type": "live",
            "scopes": "licenses:read", "expires": "30d"}  # fmt: skip
    posted = viewer.request.post(f"{BASE}/new", form=form, max_redirects=0)
    assert posted.status == 403 and "Your role does not allow" in posted.text()

    owner = open_as("owner")
    form = {"name": "Forged key", "type": "live", "scopes": "licenses:read", "expires": "30d"}
    forged = owner.request.post(f"{BASE}/new", form=form, max_redirects=0)
    assert forged.status == 403 and "not sent from your current session" in forged.text()
    with Client(api_key=site.api_key, base_url=site.base_url, max_retries=0) as sdk:
        names = {key.name for key in sdk.keys.iter()}
    assert "Forged key" not in names and "Viewer key" not in names
    assert viewer.csp.violations == [] and owner.csp.violations == []
