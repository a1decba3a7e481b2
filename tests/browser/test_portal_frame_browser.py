"""The portal's frame in a real browser: sign in through the form, the overview, sign out;
no CSP refusal; axe-core finds no serious or critical WCAG violation; usable on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Site, axe_violations, screenshot

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def test_sign_in_overview_and_sign_out(open_as: Any, site: Site) -> None:
    page = open_as()
    page.goto("/portal/login")
    assert axe_violations(page) == []
    screenshot(page, "sign-in")
    page.get_by_label("Email").fill(site.emails["owner"])
    page.get_by_label("Password").fill("wrong password entirely")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    page.get_by_label("Password").fill("correct horse battery 9")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal")
    assert page.get_by_role("heading", level=1).inner_text() == "Acme Robotics"
    assert axe_violations(page) == []
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/portal/login")
    page.goto("/portal")
    assert "/portal/login" in page.url
    assert page.csp.violations == []


def test_phone_width_and_keyboard(open_as: Any) -> None:
    page = open_as("viewer", width=375, height=740)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.keyboard.press("Tab")  # the skip link comes first and becomes visible
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert axe_violations(page) == []
