"""'Your sign-ins' in a real browser: the same user signed in from two browsers sees both
sessions, ends the other one, and that browser is signed out; the pages pass axe-core and
raise no CSP refusal. The signed-out 'forgot your password' page (no mail configured here)
too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Site, axe_violations, screenshot

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def test_two_browsers_see_both_sessions_and_end_the_other(open_as: Any, site: Site) -> None:
    here = open_as("member")
    there = open_as("member")
    here.get_by_role("link", name="Your sign-ins").click()
    here.wait_for_url("**/portal/settings/security")
    rows = here.locator("table tbody tr")
    assert rows.count() == 2
    assert rows.filter(has_text="This session").count() == 1
    assert "HeadlessChrome" in rows.first.inner_text() or "Chrome" in rows.first.inner_text()
    assert axe_violations(here) == []
    screenshot(here, "sign-ins")
    here.get_by_role("button", name="End session").click()
    here.wait_for_url(re.compile(r".*done=revoked$"))
    assert here.get_by_role("status").first.inner_text() == "That session is signed out."
    assert here.locator("table tbody tr").count() == 1
    there.goto("/portal/settings/security")
    assert "/portal/login" in there.url  # the other browser is signed out
    there.get_by_role("link", name="Forgot your password?").click()
    there.wait_for_url("**/portal/login/forgot")
    assert "quantumlock users password-link" in there.content()
    assert axe_violations(there) == []
    assert here.csp.violations == [] and there.csp.violations == []
