"""Security review (wt-review1): bugs found in the audit API and the key PATCH; each test
fails now and passes once the bug is fixed."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture


def forged_cursor(raw_json: str) -> str:
    return base64.urlsafe_b64encode(raw_json.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+05:00",  # before datetime.min once in UTC
        "9999-12-31T23:59:59-05:00",  # after datetime.max once in UTC
    ],
)
def test_an_audit_cursor_whose_time_has_no_utc_value_is_400(
    client: TestClient, account: AccountFixture, at: str
) -> None:
    cursor = forged_cursor(f'["{at}","license",1]')
    r = client.get("/api/v2/audit", params={"cursor": cursor}, headers=account.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("ident", [2**63, 2**64 - 1])
def test_an_audit_cursor_whose_id_is_beyond_64_bits_is_400(
    client: TestClient, account: AccountFixture, ident: int
) -> None:
    cursor = forged_cursor(f'["2026-01-01T00:00:00Z","license",{ident}]')
    r = client.get("/api/v2/audit", params={"cursor": cursor}, headers=account.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"


def test_narrowing_a_keys_scopes_is_in_the_audit_trail(
    client: TestClient, account: AccountFixture
) -> None:
    """A scope change is an API-key change: a stolen admin key that narrows the owner's admin
    key (locking them out) must leave a trace in GET /api/v2/audit, as create, revoke and
    rotate do."""
    created = client.post(
        "/api/v2/keys",
        json={"name": "ops", "type": "live", "scopes": ["admin"]},
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    key_id = created.json()["data"]["id"]

    def events_of_key() -> list[dict[str, object]]:
        r = client.get("/api/v2/audit", params={"limit": 200}, headers=account.headers)
        assert r.status_code == 200, r.text
        return [e for e in r.json()["data"]["events"] if e["object_id"] == key_id]

    before = events_of_key()
    r = client.patch(
        f"/api/v2/keys/{key_id}", json={"scopes": ["licenses:read"]}, headers=account.headers
    )
    assert r.status_code == 200, r.text
    after = events_of_key()
    assert len(after) == len(before) + 1, after
    assert "licenses:read" in str(after[0]["detail"]), after[0]
