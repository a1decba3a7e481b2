"""/api/v2/users through the API: create (with a one-time link or a password), list, get,
update, disable/enable, delete, sessions, password links, TOTP enrolment, and the audit."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer

USERS = "/api/v2/users"
PASSWORD = "Quiet-river-lamp-42"
SECRET_FIELDS = ("password_hash", "sealed_totp_secret", "token_hash", "secret", "code_hash")


def email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@example.com"


def create(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    made = client.post(
        USERS, json={"email": email(), "role": "member", **body}, headers=bearer(key)
    )
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    return data


def sign_in(client: TestClient, address: str, password: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    done = client.post(
        "/login",
        data={"csrf_token": csrf.group(1), "email": address, "password": password},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    token = re.search(r"ql_session=([^;]+);", done.headers["set-cookie"])
    assert token
    return token.group(1)


def test_create_without_password_gives_a_one_time_link(
    client: TestClient, account: AccountFixture
) -> None:
    made = create(client, account.admin_key, name="Ada", role="admin")
    assert made["id"].startswith("usr_") and made["role"] == "admin"
    assert made["has_password"] is False and made["status"] == "active"
    url = made["set_password_url"]
    assert url.startswith("http://testserver/login/set-password/")
    assert not any(field in made for field in SECRET_FIELDS)
    form = client.get(url)
    assert form.status_code == 200 and made["email"] in form.text
    got = client.get(f"{USERS}/{made['id']}", headers=account.headers).json()["data"]
    assert "set_password_url" not in got and got["email"] == made["email"]


def test_create_refusals(client: TestClient, account: AccountFixture) -> None:
    taken = create(client, account.admin_key, password=PASSWORD)
    dup = client.post(
        USERS,
        json={"email": taken["email"].upper(), "role": "viewer"},
        headers=account.headers,
    )
    assert dup.status_code == 409 and dup.json()["code"] == "CONFLICT"
    weak = client.post(
        USERS,
        json={"email": email(), "role": "viewer", "password": "password1234"},
        headers=account.headers,
    )
    assert weak.status_code == 400 and "common" in weak.json()["detail"]
    bad_role = client.post(USERS, json={"email": email(), "role": "god"}, headers=account.headers)
    assert bad_role.status_code == 400 and bad_role.json()["code"] == "VALIDATION_ERROR"
    bad_email = client.post(
        USERS, json={"email": "nope", "role": "viewer"}, headers=account.headers
    )
    assert bad_email.status_code == 400


def test_idempotent_create(client: TestClient, account: AccountFixture) -> None:
    body = {"email": email(), "role": "viewer"}
    headers = {**account.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(USERS, json=body, headers=headers)
    again = client.post(USERS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json() == again.json()


def test_list_pages_and_test_key_sees_the_same_users(
    client: TestClient, account: AccountFixture
) -> None:
    ids = [create(client, account.admin_key)["id"] for _ in range(3)]
    page = client.get(USERS, params={"limit": 2}, headers=account.headers).json()["data"]
    assert [u["id"] for u in page["users"]] == ids[::-1][:2] and page["has_more"] is True
    rest = client.get(
        USERS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=account.headers
    ).json()["data"]
    assert [u["id"] for u in rest["users"]] == [ids[0]] and rest["next_cursor"] is None
    test_key = client.post(
        "/api/v2/keys",
        json={"name": "t", "type": "test", "scopes": ["admin"]},
        headers=account.headers,
    ).json()["data"]["key"]
    seen = client.get(USERS, headers=bearer(test_key)).json()["data"]["users"]
    assert {u["id"] for u in seen} == set(ids)


def test_update_disable_enable_delete(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, password=PASSWORD)
    url = f"{USERS}/{made['id']}"
    patched = client.patch(url, json={"name": "Grace", "role": "viewer"}, headers=account.headers)
    assert patched.status_code == 200 and patched.json()["data"]["role"] == "viewer"
    token = sign_in(client, made["email"], PASSWORD)
    off = client.post(f"{url}/disable", headers=account.headers)
    assert off.status_code == 200 and off.json()["data"]["status"] == "disabled"
    client.cookies.clear()
    client.cookies.set("ql_session", token)
    assert client.get("/login", follow_redirects=False).status_code == 200  # signed out
    on = client.post(f"{url}/enable", headers=account.headers)
    assert on.json()["data"]["status"] == "active"
    assert client.delete(url, headers=account.headers).status_code == 204
    assert client.get(url, headers=account.headers).status_code == 404


def test_last_owner_rule_over_the_api(client: TestClient, account: AccountFixture) -> None:
    owner = create(client, account.admin_key, role="owner", password=PASSWORD)
    url = f"{USERS}/{owner['id']}"
    for answer in (
        client.patch(url, json={"role": "admin"}, headers=account.headers),
        client.post(f"{url}/disable", headers=account.headers),
        client.delete(url, headers=account.headers),
    ):
        assert answer.status_code == 409, answer.text


def test_sessions_list_and_revoke(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, password=PASSWORD)
    sign_in(client, made["email"], PASSWORD)
    client.cookies.clear()
    sign_in(client, made["email"], PASSWORD)
    url = f"{USERS}/{made['id']}/sessions"
    sessions = client.get(url, headers=account.headers).json()["data"]["sessions"]
    assert len(sessions) == 2 and all("token" not in str(s.keys()) for s in sessions)
    one = client.delete(f"{url}/{sessions[0]['id']}", headers=account.headers)
    assert one.status_code == 204
    assert len(client.get(url, headers=account.headers).json()["data"]["sessions"]) == 1
    assert client.delete(f"{url}/ses_nope", headers=account.headers).status_code == 404
    everything = client.delete(url, headers=account.headers)
    assert everything.status_code == 200 and everything.json()["data"] == {"revoked": 1}
    assert client.get(url, headers=account.headers).json()["data"]["sessions"] == []


def test_password_link_resets(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, password=PASSWORD)
    link = client.post(f"{USERS}/{made['id']}/password-link", headers=account.headers)
    assert link.status_code == 201, link.text
    url = link.json()["data"]["url"]
    page = client.get(url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    new = "Another-quiet-lamp-77"
    done = client.post(url, data={"csrf_token": csrf.group(1), "password": new, "confirm": new})
    assert done.status_code == 200, done.text
    client.cookies.clear()
    sign_in(client, made["email"], new)


def test_totp_enrolment_over_the_api(client: TestClient, account: AccountFixture) -> None:
    made = create(client, account.admin_key, password=PASSWORD)
    url = f"{USERS}/{made['id']}/totp"
    started = client.post(url, headers=account.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["data"]["secret"]
    assert started.json()["data"]["provisioning_uri"].startswith("otpauth://totp/")
    wrong = client.post(f"{url}/confirm", json={"totp_code": "12345x"}, headers=account.headers)
    assert wrong.status_code == 400
    code = pyotp.TOTP(secret).now()
    confirmed = client.post(f"{url}/confirm", json={"totp_code": code}, headers=account.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert len(confirmed.json()["data"]["recovery_codes"]) == 10
    got = client.get(f"{USERS}/{made['id']}", headers=account.headers).json()["data"]
    assert got["totp_enabled"] is True and "secret" not in got
    off = client.delete(url, headers=account.headers)
    assert off.status_code == 200 and off.json()["data"]["totp_enabled"] is False


def test_scope_admin_required(client: TestClient, account: AccountFixture) -> None:
    reader = client.post(
        "/api/v2/keys", json={"name": "r", "scopes": ["account:read"]}, headers=account.headers
    ).json()["data"]["key"]
    assert client.get(USERS, headers=bearer(reader)).status_code == 403
    assert (
        client.post(
            USERS, json={"email": email(), "role": "viewer"}, headers=bearer(reader)
        ).status_code
        == 403
    )


def test_audit_shows_identity_events_with_actor_and_address(
    client: TestClient, account: AccountFixture
) -> None:
    made = create(client, account.admin_key, password=PASSWORD)
    sign_in(client, made["email"], PASSWORD)
    client.post(f"{USERS}/{made['id']}/disable", headers=account.headers)
    trail = client.get(
        "/api/v2/audit",
        params=[("type", "user.create"), ("type", "user.login"), ("type", "user.disable")],
        headers=account.headers,
    )
    assert trail.status_code == 200, trail.text
    events = [e for e in trail.json()["data"]["events"] if e["object_id"] == made["id"]]
    assert [e["type"] for e in events] == ["user.disable", "user.login", "user.create"]
    disable, login, created = events
    assert disable["actor_key_id"].startswith("key_") and disable["address"] == "testclient"
    assert login["actor_key_id"] == made["id"] and login["address"] == "testclient"
    assert created["actor_key_id"].startswith("key_") and created["object_type"] == "user"
    assert all(e["id"].startswith("iev_") and e["at"] for e in events)
    # Paging through a mixed stream: the identity source's cursor is accepted.
    first = client.get("/api/v2/audit", params={"limit": 1}, headers=account.headers).json()
    cursor = first["data"]["next_cursor"]
    assert cursor
    second = client.get(
        "/api/v2/audit", params={"limit": 1, "cursor": cursor}, headers=account.headers
    )
    assert second.status_code == 200
    assert second.json()["data"]["events"][0]["id"] != first["data"]["events"][0]["id"]
    bad = client.get("/api/v2/audit", params={"type": "user.nope"}, headers=account.headers)
    assert bad.status_code == 400
