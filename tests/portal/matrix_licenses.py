"""Isolation cases for the licenses pages: another account's license is a 404 page on every
route that names one."""

from __future__ import annotations

from fastapi import FastAPI

from tests.conftest import AccountFixture
from tests.portal.matrix import Case
from tests.portal.test_licenses import make_license


def _license(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    return {"license_key": make_license(app, victim.id)}


CASES = [
    Case("GET", "/portal/licenses/{license_key}", _license),
    Case("GET", "/portal/licenses/{license_key}/file", _license),
    Case("GET", "/portal/licenses/{license_key}/revoke", _license),
    Case("POST", "/portal/licenses/{license_key}/suspend", _license),
    Case("POST", "/portal/licenses/{license_key}/reinstate", _license),
    Case("POST", "/portal/licenses/{license_key}/revoke", _license),
    Case("POST", "/portal/licenses/{license_key}/renew", _license, {"valid_days": "30"}),
]
