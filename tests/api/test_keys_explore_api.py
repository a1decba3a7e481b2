"""GET /api/v2/keys a page at a time, GET and PATCH /api/v2/keys/{key_id} (#18)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, MakeAccount, bearer

KEYS = "/api/v2/keys"


def create(client: TestClient, admin: str, **body: Any) -> dict[str, Any]:
    made = client.post(KEYS, json={"name": "k", **body}, headers=bearer(admin))
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    return data


def listed(client: TestClient, admin: str, **params: Any) -> dict[str, Any]:
    got = client.get(KEYS, params=params, headers=bearer(admin))
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()["data"]
    return data


def walk(client: TestClient, admin: str, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = listed(client, admin, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert len(page["keys"]) <= limit
        ids.extend(k["id"] for k in page["keys"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return ids
        cursor = page["next_cursor"]
        assert cursor == page["keys"][-1]["id"]


def test_keys_are_listed_newest_first_a_page_at_a_time(
    client: TestClient, account: AccountFixture
) -> None:
    admin = account.admin_key
    made = [create(client, admin, name=f"k{i}")["id"] for i in range(5)]
    revoked = create(client, admin, name="gone")["id"]
    assert client.delete(f"{KEYS}/{revoked}", headers=bearer(admin)).status_code == 204

    everything = listed(client, admin)
    assert everything["has_more"] is False and everything["next_cursor"] is None
    newest_first = [k["id"] for k in everything["keys"]]
    assert newest_first[:5] == made[::-1]  # then the account's first (admin) key
    assert revoked not in newest_first
    for limit in (1, 2, 5):
        assert walk(client, admin, limit) == newest_first

    # A key created while walking does not repeat or shift rows already seen.
    first = listed(client, admin, limit=2)
    create(client, admin, name="late")
    rest = listed(client, admin, limit=100, cursor=first["next_cursor"])
    assert [k["id"] for k in first["keys"] + rest["keys"]] == newest_first


def test_a_bad_cursor_is_a_400_whoever_owns_the_id(
    client: TestClient, make_account: MakeAccount
) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    b_key = create(client, b.admin_key)["id"]
    details = set()
    for cursor in ("key_doesnotexist", b_key):
        got = client.get(KEYS, params={"cursor": cursor}, headers=bearer(a.admin_key))
        assert got.status_code == 400, got.text
        assert got.json()["code"] == "VALIDATION_ERROR"
        details.add(got.json()["detail"])
    assert len(details) == 1  # no oracle for another tenant's key ids
    for limit in (0, 1001):
        got = client.get(KEYS, params={"limit": limit}, headers=bearer(a.admin_key))
        assert got.status_code == 400


def test_a_test_key_pages_through_test_keys_only(
    client: TestClient, account: AccountFixture
) -> None:
    sandbox = create(client, account.admin_key, type="test", scopes=["admin"])
    create(client, account.admin_key, name="live one", type="live")
    made = create(client, sandbox["key"], name="test one")
    ids = walk(client, sandbox["key"], 1)
    assert ids == [made["id"], sandbox["id"]]


def test_get_a_key_never_shows_its_secret(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, scopes=["licenses:read"], metadata={"team": "ops"})
    got = client.get(f"{KEYS}/{made['id']}", headers=bearer(account.admin_key))
    assert got.status_code == 200
    data = got.json()["data"]
    assert data["id"] == made["id"] and data["metadata"] == {"team": "ops"}
    assert data["scopes"] == ["licenses:read"] and data["revoked_at"] is None
    assert "key" not in data and made["key"] not in got.text
    client.delete(f"{KEYS}/{made['id']}", headers=bearer(account.admin_key))
    gone = client.get(f"{KEYS}/{made['id']}", headers=bearer(account.admin_key)).json()["data"]
    assert gone["revoked_at"] is not None
    missing = client.get(f"{KEYS}/key_nope", headers=bearer(account.admin_key))
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


def patch(client: TestClient, admin: str, key_id: str, **body: Any) -> Any:
    return client.patch(f"{KEYS}/{key_id}", json=body, headers=bearer(admin))


def test_update_renames_relabels_and_narrows(client: TestClient, account: AccountFixture) -> None:
    admin = account.admin_key
    made = create(client, admin, scopes=["licenses:write", "account:read"], metadata={"a": 1})
    answer = patch(client, admin, made["id"], name="renamed", metadata={"b": [1, 2]})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["name"] == "renamed" and data["metadata"] == {"b": [1, 2]}
    assert data["scopes"] == ["licenses:write", "account:read"]  # absent: unchanged
    assert made["key"] not in answer.text and "key" not in data
    # licenses:write implies licenses:validate: keeping only that is narrowing.
    narrowed = patch(client, admin, made["id"], scopes=["licenses:validate"]).json()["data"]
    assert narrowed["scopes"] == ["licenses:validate"] and narrowed["name"] == "renamed"
    cleared = patch(client, admin, made["id"], metadata={}).json()["data"]
    assert cleared["metadata"] == {}
    assert listed(client, admin)["keys"][0]["scopes"] == ["licenses:validate"]


def test_a_key_never_gains_a_scope(client: TestClient, account: AccountFixture) -> None:
    admin = account.admin_key
    made = create(client, admin, scopes=["licenses:read"])
    for scopes in (["licenses:write"], ["licenses:read", "account:read"], ["admin"], []):
        answer = patch(client, admin, made["id"], scopes=scopes)
        assert answer.status_code == 400, (scopes, answer.text)
        assert answer.json()["code"] == "VALIDATION_ERROR"
    refused = patch(client, admin, made["id"], scopes=["licenses:write"]).json()
    assert "licenses:write" in refused["detail"] and refused["errors"][0]["loc"][-1] == "scopes"
    unknown = patch(client, admin, made["id"], scopes=["root"])
    assert unknown.status_code == 400
    got = client.get(f"{KEYS}/{made['id']}", headers=bearer(admin)).json()["data"]
    assert got["scopes"] == ["licenses:read"]


def test_narrowing_takes_effect_at_once(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, scopes=["licenses:read", "account:read"])
    assert client.get("/api/v1/customers/me", headers=bearer(made["key"])).status_code == 200
    patch(client, account.admin_key, made["id"], scopes=["licenses:read"])
    refused = client.get("/api/v1/customers/me", headers=bearer(made["key"]))
    assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"


def test_update_refuses_revoked_keys_bad_bodies_and_non_admins(
    client: TestClient, account: AccountFixture
) -> None:
    admin = account.admin_key
    made = create(client, admin, scopes=["licenses:read"])
    for body in ({"metadata": {"x": "y" * 5000}}, {"name": ""}, {"type": "live"}):
        answer = patch(client, admin, made["id"], **body)
        assert answer.status_code == 400, (body, answer.text)
    lesser = create(client, admin, scopes=["licenses:write"])
    answer = patch(client, lesser["key"], made["id"], name="mine")
    assert answer.status_code == 403
    client.delete(f"{KEYS}/{made['id']}", headers=bearer(admin))
    answer = patch(client, admin, made["id"], name="late")
    assert answer.status_code == 409 and answer.json()["code"] == "CONFLICT"


def test_rotation_keeps_the_metadata(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, metadata={"service": "billing"})
    rotated = client.post(
        f"{KEYS}/{made['id']}/rotate", json={"grace_period": "0s"}, headers=account.headers
    )
    assert rotated.status_code == 201
    assert rotated.json()["data"]["metadata"] == {"service": "billing"}
