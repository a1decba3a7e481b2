"""Single sign-on and the audit log in a real browser: an owner sets up SAML from the test
IdP's metadata file through the form and copies the SP's addresses; an admin filters the
audit log and downloads it as CSV. axe-core on each page, no CSP refusal."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Site, axe_violations, screenshot
from tests.portal.idp_metadata import ENTITY_ID, idp_metadata

# Every browser test runs on one worker: one chromium, one server (tests/browser/conftest.py).
pytestmark = pytest.mark.xdist_group("browser")


def test_owner_sets_up_sso_from_the_idp_metadata_file(
    open_as: Any, site: Site, tmp_path: Path
) -> None:
    metadata, _ = idp_metadata(tmp_path)
    page = open_as("owner")
    page.goto("/portal/account/sso")
    assert page.get_by_role("heading", level=1).inner_text() == "Single sign-on (SAML)"
    assert page.get_by_text("No single sign-on yet.").is_visible()
    assert axe_violations(page) == []

    # The file input reads the XML into the text box (portal.js); the form posts text.
    page.get_by_label("IdP metadata file").set_input_files(
        files=[{"name": "idp.xml", "mimeType": "application/xml", "buffer": metadata.encode()}]
    )
    page.wait_for_function(
        "() => document.getElementById('f-idp_metadata_xml').value.includes('EntityDescriptor')"
    )
    page.get_by_label("Identity provider preset").select_option("okta")
    page.get_by_label("Role of a new user").select_option("viewer")
    page.get_by_label("Group to role").fill("QL Admins = admin")
    page.get_by_role("button", name="Save the connection").click()
    page.wait_for_url("**/portal/account/sso?done=saved")
    assert (
        page.get_by_role("status")
        .first.inner_text()
        .startswith("The single sign-on connection was saved.")
    )
    assert page.get_by_text(ENTITY_ID).is_visible()

    acs = f"{site.base_url}/saml/{site.account_id}/acs"
    assert page.get_by_label("ACS URL (assertion consumer service)").input_value() == acs
    assert (
        page.get_by_label("SP metadata URL")
        .input_value()
        .endswith(f"/saml/{site.account_id}/metadata")
    )
    page.locator('button[data-copy="sp-acs"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == acs
    test_link = page.get_by_role("link", name="Test the connection")
    assert test_link.get_attribute("href") == (
        f"/saml/{site.account_id}/login?next=%2Fportal%2Faccount%2Fsso%3Ftested%3D1"
    )
    assert axe_violations(page) == []
    screenshot(page, "sso")
    assert page.csp.violations == []


def test_admin_filters_the_audit_log_and_downloads_it(
    open_as: Any, site: Site, tmp_path: Path
) -> None:
    made = httpx.post(
        f"{site.base_url}/api/v2/keys",
        json={"name": "browser audit"},
        headers={"Authorization": f"Bearer {site.api_key}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    key_id = made.json()["data"]["id"]

    page = open_as("admin")
    page.goto("/portal/account/audit")
    assert axe_violations(page) == []
    page.get_by_label("Event type").select_option("api_key.create")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*/portal/account/audit\?type=api_key\.create&.*"))
    table = page.get_by_role("table")
    assert key_id in table.inner_text()
    assert "user.login" not in table.inner_text()
    assert axe_violations(page) == []
    screenshot(page, "audit")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(r"audit-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert rows and {r["type"] for r in rows} == {"api_key.create"}
    assert any(r["object_id"] == key_id for r in rows)
    assert page.csp.violations == []
