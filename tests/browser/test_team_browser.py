"""The team pages in a real browser: invite a member and change their role; create a service
account and see its secret once; an OAuth client; axe-core on each page; no CSP refusal."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import Site, axe_violations

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def _clean(page: Any) -> None:
    assert axe_violations(page) == [], page.url


def test_invite_a_member_and_change_their_role(open_as: Any, site: Site) -> None:
    page = open_as("owner")
    page.goto("/portal/account/members")
    _clean(page)
    page.get_by_role("link", name="Invite a member").click()
    _clean(page)
    email = f"new-{uuid.uuid4().hex[:8]}@acme.example"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Member invited"
    link = page.get_by_label("One-time password link").input_value()
    assert link.startswith(site.base_url + "/login/set-password/")
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == link
    _clean(page)

    page.get_by_role("link", name="All members").click()
    assert link.rsplit("/", 1)[1] not in page.content()
    row = page.get_by_role("row").filter(has_text=email)
    assert "viewer" in row.inner_text()
    page.get_by_role("link", name=f"Manage {email}").click()
    _clean(page)
    page.get_by_label("New role").select_option("admin")
    page.get_by_role("button", name="Change role").click()
    assert page.get_by_role("status").first.inner_text() == "The role was changed."
    assert re.search(r"Role\s+admin", page.locator("dl.facts").inner_text())
    page.get_by_role("link", name="Remove…").click()
    _clean(page)
    page.get_by_role("button", name=f"Remove {email}").click()
    assert "The member was removed." in page.get_by_role("status").first.inner_text()
    assert email not in page.content()
    assert page.csp.violations == []


def test_service_account_secret_once_and_oauth_client(open_as: Any) -> None:
    page = open_as("owner")
    page.goto("/portal/account/service-accounts")
    _clean(page)
    page.get_by_role("link", name="New service account").click()
    _clean(page)
    name = f"Nightly {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.locator('input[name="scopes"][value="licenses:read"]').check()
    page.get_by_role("button", name="Create service account").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Service account created"
    secret = page.get_by_label("Client secret").input_value()
    assert secret.startswith("secret_")
    _clean(page)
    page.get_by_role("link", name="All service accounts").click()
    assert secret not in page.content() and name in page.content()
    _clean(page)
    page.get_by_role("link", name=name).click()
    assert secret not in page.content()
    _clean(page)
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.get_by_label("Client secret").input_value()
    assert rotated.startswith("secret_") and rotated != secret
    page.get_by_role("link", name="Go to the service account").click()
    assert rotated not in page.content()
    page.get_by_role("link", name="Delete…").click()
    _clean(page)

    page.goto("/portal/account/oauth-clients")
    _clean(page)
    page.get_by_role("link", name="New OAuth client").click()
    _clean(page)
    page.get_by_label("Name", exact=True).fill("Dashboard")
    page.get_by_label("Redirect URIs").fill("https://dash.example/cb")
    page.get_by_role("button", name="Create OAuth client").click()
    assert page.get_by_label("Client secret").input_value().startswith("secret_")
    page.get_by_role("link", name="Go to the OAuth client").click()
    _clean(page)
    assert page.csp.violations == []
