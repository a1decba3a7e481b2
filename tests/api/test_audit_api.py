"""The audit trail through the API: GET /api/v1/licenses/{license_key}/events and
GET /api/v2/audit (#18 item 7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from quantumlock.core.clock import isoformat, utcnow
from tests.conftest import AccountFixture, MakeAccount, bearer

GEN = "/api/v1/licenses/generate"
AUDIT = "/api/v2/audit"


def generate(client: TestClient, key: str) -> str:
    made = client.post(GEN, json={"end_customer_id": "c-1"}, headers=bearer(key))
    assert made.status_code == 201, made.text
    license_key: str = made.json()["license_key"]
    return license_key


def new_key(client: TestClient, admin: str, **body: Any) -> dict[str, Any]:
    made = client.post("/api/v2/keys", json={"name": "k", **body}, headers=bearer(admin))
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    return data


def test_license_events_newest_first_and_paginated(
    client: TestClient, account: AccountFixture
) -> None:
    key = generate(client, account.admin_key)
    for action in ("suspend", "reinstate"):
        client.post(f"/api/v1/licenses/{key}/{action}", headers=account.headers)
    client.post(f"/api/v1/licenses/{key}/renew", json={"valid_days": 30}, headers=account.headers)
    url = f"/api/v1/licenses/{key}/events"
    page = client.get(url, headers=account.headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 4 and body["skip"] == 0 and body["limit"] == 50
    assert [e["type"] for e in body["events"]] == [
        "license.renew",
        "license.reinstate",
        "license.suspend",
        "license.generate",
    ]
    suspend = body["events"][2]
    assert suspend["action"] == "suspend" and suspend["key_id"].startswith("key_")
    assert suspend["detail"] == {"from": "active", "to": "suspended"}
    assert suspend["at"].endswith("Z")
    second = client.get(url, params={"skip": 1, "limit": 2}, headers=account.headers).json()
    assert [e["action"] for e in second["events"]] == ["reinstate", "suspend"]
    # Lower case, as license keys are accepted everywhere.
    assert client.get(url.lower(), headers=account.headers).json()["total"] == 4


def test_license_events_need_licenses_read(client: TestClient, account: AccountFixture) -> None:
    key = generate(client, account.admin_key)
    validate_only = new_key(client, account.admin_key, scopes=["licenses:validate"])["key"]
    reader = new_key(client, account.admin_key, scopes=["licenses:read"])["key"]
    url = f"/api/v1/licenses/{key}/events"
    refused = client.get(url, headers=bearer(validate_only))
    assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"
    assert client.get(url, headers=bearer(reader)).status_code == 200
    missing = client.get("/api/v1/licenses/QLOCK-0000-0000-0000/events", headers=account.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


def test_audit_has_license_and_key_events_newest_first(
    client: TestClient, account: AccountFixture
) -> None:
    created = new_key(client, account.admin_key, scopes=["licenses:read"])
    lic = generate(client, account.admin_key)
    client.post(f"/api/v1/licenses/{lic}/revoke", headers=account.headers)
    rotated = client.post(
        f"/api/v2/keys/{created['id']}/rotate", json={"grace_period": "0s"}, headers=account.headers
    ).json()["data"]
    client.delete(f"/api/v2/keys/{rotated['id']}", headers=account.headers)
    answer = client.get(AUDIT, headers=account.headers)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["has_more"] is False and data["next_cursor"] is None
    events = data["events"]
    # The account's first admin key was made by the operator when the account was.
    assert [(e["type"], e["object_id"]) for e in events] == [
        ("api_key.revoke", rotated["id"]),
        ("api_key.rotate", created["id"]),
        ("license.revoke", events[2]["object_id"]),
        ("license.generate", events[2]["object_id"]),
        ("api_key.create", created["id"]),
        ("api_key.create", events[5]["object_id"]),
    ]
    assert events[-1]["actor_key_id"] == "cli"
    revoke = events[2]
    assert revoke["object_type"] == "license" and revoke["object_id"].startswith("lic_")
    assert revoke["license_key"] == lic and revoke["mode"] == "live"
    assert revoke["detail"] == {"from": "active", "to": "revoked"}
    assert revoke["id"].startswith("lev_") and events[0]["id"].startswith("kev_")
    create = events[4]
    assert create["license_key"] is None
    assert create["detail"]["scopes"] == ["licenses:read"] and create["detail"]["name"] == "k"
    assert events[1]["detail"]["new_key_id"] == rotated["id"]
    admin_key_id = client.get("/api/v2/me", headers=account.headers).json()["data"]["key_id"]
    assert {e["actor_key_id"] for e in events[:-1]} == {admin_key_id}
    # No event holds a secret: the secrets scan reads every error body, not 200s.
    text = answer.text
    assert rotated["key"] not in text and account.admin_key not in text


def test_audit_pages_with_a_cursor_and_filters(client: TestClient, account: AccountFixture) -> None:
    licenses = [generate(client, account.admin_key) for _ in range(5)]
    for lic in licenses[:2]:
        client.post(f"/api/v1/licenses/{lic}/suspend", headers=account.headers)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, "type": ["license.generate", "license.suspend"]}
        if cursor:
            params["cursor"] = cursor
        data = client.get(AUDIT, params=params, headers=account.headers).json()["data"]
        pages += 1
        seen += [e["id"] for e in data["events"]]
        assert len(data["events"]) <= 2
        if not data["has_more"]:
            break
        cursor = data["next_cursor"]
    assert pages == 4 and len(seen) == len(set(seen)) == 7
    only = client.get(AUDIT, params={"type": "license.suspend"}, headers=account.headers)
    assert [e["type"] for e in only.json()["data"]["events"]] == ["license.suspend"] * 2
    keys = client.get(AUDIT, params={"type": "api_key.create"}, headers=account.headers)
    assert {e["type"] for e in keys.json()["data"]["events"]} == {"api_key.create"}
    later = isoformat(utcnow() + timedelta(minutes=5))
    assert (
        client.get(AUDIT, params={"since": later}, headers=account.headers).json()["data"]["events"]
        == []
    )
    earlier = isoformat(utcnow() - timedelta(hours=1))
    none_before = client.get(AUDIT, params={"until": earlier}, headers=account.headers)
    assert none_before.json()["data"]["events"] == []


def test_audit_refuses_a_bad_cursor_or_type_with_400(
    client: TestClient, account: AccountFixture
) -> None:
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4IiwgMSwgMl0"},  # valid base64 of nonsense
        {"type": "license.delete"},
        {"since": "yesterday"},
        {"limit": 0},
    ):
        answer = client.get(AUDIT, params=params, headers=account.headers)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["code"] == "VALIDATION_ERROR"


def test_audit_needs_admin(client: TestClient, account: AccountFixture) -> None:
    reader = new_key(client, account.admin_key, scopes=["licenses:read", "account:read"])["key"]
    refused = client.get(AUDIT, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"


def test_audit_is_the_accounts_own_and_a_test_key_sees_the_test_mode_only(
    client: TestClient, make_account: MakeAccount
) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    test_admin = new_key(client, a.admin_key, type="test", scopes=["admin"])
    live_license = generate(client, a.admin_key)
    test_license = generate(client, test_admin["key"])
    generate(client, b.admin_key)

    def trail(key: str) -> list[dict[str, Any]]:
        answer = client.get(AUDIT, headers=bearer(key))
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["data"]["events"]
        return events

    live = trail(a.admin_key)
    assert {e["license_key"] for e in live if e["object_type"] == "license"} == {live_license}
    # The live admin manages every key of the account: it sees the test key's creation.
    assert test_admin["id"] in {e["object_id"] for e in live}
    test = trail(test_admin["key"])
    assert {e["mode"] for e in test} == {"test"}
    assert {e["license_key"] for e in test if e["object_type"] == "license"} == {test_license}
    assert [e["object_id"] for e in test if e["object_type"] == "api_key"] == [test_admin["id"]]
    others = trail(b.admin_key)
    assert live_license not in {e["license_key"] for e in others}
    assert not {e["object_id"] for e in others} & {e["object_id"] for e in live}
