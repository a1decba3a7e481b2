"""Licenses in a real browser: generate a license through the form, suspend and reinstate it
on its page, see a validation made with the SDK in its history (the server's background
flush), download its file; axe-core and the CSP on the list, form and detail pages."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from qcos import Client
from tests.browser.conftest import Site, axe_violations, screenshot

# The server flushes validation counts every 5 s (QL_LAST_USED_FLUSH_INTERVAL's default).
HISTORY_DEADLINE = 30.0

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def test_generate_suspend_reinstate_and_the_detail_page(open_as: Any, site: Site) -> None:
    page = open_as("owner")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Licenses").click()
    page.wait_for_url("**/portal/licenses")
    assert "No licenses yet." in page.inner_text("main")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Generate a license").click()
    page.wait_for_url("**/portal/licenses/new")
    assert axe_violations(page) == []
    page.get_by_label("Customer id").fill("acme-plant-7")
    page.get_by_label("Features").fill("premium, api_access")
    page.get_by_label("Valid for (days)").fill("90")
    page.get_by_label("Metadata (optional)").fill('{"seats": 25}')
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r".*/portal/licenses/QLOCK-[0-9A-F-]+\?done=generated$"))
    assert page.get_by_role("status").first.inner_text() == "License generated."
    license_key = page.url.split("/")[-1].split("?")[0]

    page.get_by_role("button", name="Suspend").click()
    page.wait_for_url("**?done=suspended")
    facts = page.locator("dl.facts")
    assert "Suspended" in facts.inner_text()
    page.get_by_role("button", name="Reinstate").click()
    page.wait_for_url("**?done=reinstated")
    assert "Active" in facts.inner_text()

    # A validation through the SDK reaches the history once the server flushes its counts.
    with Client(api_key=site.api_key, base_url=site.base_url) as client:
        assert client.licenses.validate(license_key, "acme-plant-7").valid
    deadline = time.monotonic() + HISTORY_DEADLINE
    history = page.locator("table", has=page.get_by_role("columnheader", name="VALID"))
    while history.count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    assert history.count() == 1, "the validation never reached the history"
    trail = page.locator("table", has=page.get_by_role("columnheader", name="Action"))
    assert [a.strip() for a in trail.locator("tbody td:nth-child(2)").all_inner_texts()] == [
        "reinstate",
        "suspend",
        "generate",
    ]
    assert axe_violations(page) == []
    screenshot(page, "license-detail")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the license file").click()
    assert download.value.suggested_filename == f"{license_key}.lic"

    page.goto("/portal/licenses")
    assert license_key in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "licenses")
    assert page.csp.violations == []
