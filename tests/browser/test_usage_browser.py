"""The usage area in a real browser: requests made with the API reach the usage page's
charts, the keystore list leads to a key's detail, the entropy page shows the sources;
axe-core finds no serious or critical violation and the CSP refuses nothing on each."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Site, axe_violations, screenshot

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def test_usage_keystore_and_entropy(open_as: Any, site: Site) -> None:
    headers = {"Authorization": f"Bearer {site.api_key}"}
    with httpx.Client(base_url=site.base_url, headers=headers, timeout=30) as api:
        for _ in range(3):
            assert api.get("/api/v2/me").status_code == 200
        made = api.post("/api/v1/quantum/keys", json={"algorithm": "AES-256-GCM"})
        assert made.status_code == 201, made.text
        key_id = made.json()["key_id"]

    page = open_as("viewer")
    page.goto("/portal/usage")
    # The server writes the counts in the background (every 5 s by default), maybe in two
    # flushes: reload until today's row holds all four requests, within a generous deadline.
    deadline = time.monotonic() + 30

    def today_count() -> int:
        if "No API requests in the last" in page.content():
            return 0
        return int(
            (page.locator("tbody tr").first.locator("td").first.text_content() or "0").strip()
        )

    while today_count() < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    chart = page.get_by_role("img", name="API requests per day")
    assert chart.is_visible()
    page.get_by_text("Requests and 429s per day as a table").click()
    assert today_count() >= 4  # 3 x /me and the key creation
    assert page.get_by_role("heading", name="Top keys by use", level=2).is_visible()
    assert axe_violations(page) == []
    screenshot(page, "usage")
    assert page.csp.violations == []

    page = open_as("member")
    page.goto("/portal/keystore")
    assert axe_violations(page) == []
    page.get_by_role("link", name=key_id).click()
    page.wait_for_url(f"**/portal/keystore/{key_id}")
    assert page.get_by_role("heading", level=1).inner_text() == f"Key {key_id}"
    assert axe_violations(page) == []
    page.goto("/portal/entropy")
    assert page.get_by_role("heading", level=1).inner_text() == "Entropy sources"
    assert page.get_by_role("table", name="Entropy sources").is_visible()
    assert axe_violations(page) == []
    assert page.csp.violations == []
