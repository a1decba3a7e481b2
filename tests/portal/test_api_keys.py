"""API keys in the portal: who sees and who manages them, the create form's checks, the
secret shown once (and nowhere else), rotate and revoke, checked through /api/v2."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.core.clock import utcnow
from quantumlock.observability.logging import flush_logs
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.portal.support import PortalUser, portal_user
from tests.secret_scan import SecretsRegistry

BASE = "/portal/settings/api-keys"
SECRET = re.compile(r"qcos_(?:live|test|rkey)_[0-9A-Za-z]{38}")
WARNING = "API keys are shown only once. Store them securely."


def api_key(client: TestClient, account: AccountFixture, name: str = "Existing") -> str:
    made = client.post(
        "/api/v2/keys",
        json={"name": name, "scopes": ["licenses:read"], "type": "restricted"},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    key_id: str = made.json()["data"]["id"]
    return key_id


def api_get(client: TestClient, account: AccountFixture, key_id: str) -> dict[str, object]:
    got = client.get(f"/api/v2/keys/{key_id}", headers=account.headers)
    assert got.status_code == 200, got.text
    data: dict[str, object] = got.json()["data"]
    return data


def names(client: TestClient, account: AccountFixture) -> set[str]:
    listed = client.get("/api/v2/keys", headers=account.headers).json()["data"]["keys"]
    return {key["name"] for key in listed}


def create(
    user: PortalUser,
    name: str = "Billing service",
    scopes: tuple[str, ...] = ("licenses:read", "quantum:entropy"),
    key_type: str = "restricted",
    expires: str = "90d",
) -> httpx.Response:
    form: dict[str, str | list[str]] = {
        "name": name,
        "type": key_type,
        "scopes": list(scopes),
        "expires": expires,
    }
    return user.post(f"{BASE}/new", form)


def secret_of(page: httpx.Response) -> str:
    match = SECRET.search(page.text)
    assert match, page.text[:2000]
    return match.group(0)


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_a_role_without_admin_sees_the_keys_but_cannot_manage_them(
    role: str, app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key_id = api_key(client, account)
    user = portal_user(app, account, role)
    listed = user.client.get(BASE)
    assert listed.status_code == 200
    assert "Existing" in listed.text and "qcos_rkey_" in listed.text
    assert f"{BASE}/new" not in listed.text and "Create API key" not in listed.text
    detail = user.client.get(f"{BASE}/{key_id}")
    assert detail.status_code == 200 and "licenses:read" in detail.text
    assert "/rotate" not in detail.text and "/revoke" not in detail.text
    for path, what in [
        (f"{BASE}/new", "create API keys"),
        (f"{BASE}/{key_id}/rotate", "rotate API keys"),
        (f"{BASE}/{key_id}/revoke", "revoke API keys"),
    ]:
        page = user.client.get(path)
        assert page.status_code == 403 and f"Your role does not allow you to {what}." in page.text
        posted = user.post(path, {"name": "Sneaky", "type": "live", "scopes": "licenses:read",
                                  "expires": "30d", "grace_period": "0s"})  # fmt: skip
        assert posted.status_code == 403, (path, posted.text[:300])
    assert "Sneaky" not in names(client, account)
    assert api_get(client, account, key_id)["revoked_at"] is None
    assert client.get("/api/v2/me", headers=account.headers).status_code == 200


def test_empty_state_says_what_to_do(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    account = make_account()
    own = client.get("/api/v2/me", headers=account.headers).json()["data"]["key_id"]
    assert client.delete(f"/api/v2/keys/{own}", headers=account.headers).status_code == 204
    owner = portal_user(app, account, "owner")
    page = owner.client.get(BASE)
    assert page.status_code == 200 and "No API keys yet." in page.text
    assert "Create a key for your application" in page.text and "<table" not in page.text
    viewer = portal_user(app, account, "viewer")
    assert "Ask an owner or an admin" in viewer.client.get(BASE).text


def test_owner_creates_a_restricted_key_shown_once_and_limited_as_chosen(
    app: FastAPI,
    client: TestClient,
    account: AccountFixture,
    secrets_registry: SecretsRegistry,
    capfd: pytest.CaptureFixture[str],
) -> None:
    owner = portal_user(app, account, "owner")
    form = owner.client.get(f"{BASE}/new")
    assert form.status_code == 200
    for area in ("Licensing", "Quantum", "Account"):
        assert f'<h2 class="area">{area}</h2>' in form.text
    assert 'value="admin"' in form.text  # an owner may grant admin
    assert "List and get licenses." in form.text  # descriptions beside the boxes
    for label in ("30 days", "60 days", "90 days", "1 year", "Never"):
        assert f">{label}</option>" in form.text
    before = utcnow()
    page = create(owner)
    after = utcnow()
    assert page.status_code == 201 and WARNING in page.text and 'data-copy="secret"' in page.text
    assert page.headers["cache-control"] == "no-store"
    secret = secret_of(page)
    secrets_registry.add(secret)
    assert secret.startswith("qcos_rkey_")
    key_id = re.search(rf'href="{BASE}/(key_[^"/]+)"', page.text)
    assert key_id
    key = api_get(client, account, key_id.group(1))
    assert key["type"] == "restricted" and key["name"] == "Billing service"
    assert key["scopes"] == ["licenses:read", "quantum:entropy"]
    expires = datetime.fromisoformat(str(key["expires_at"]))
    assert before + timedelta(days=90) <= expires <= after + timedelta(days=90)
    # The key does what it was given and nothing more.
    me = client.get("/api/v2/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["data"]["scopes"] == key["scopes"]
    assert client.get("/api/v2/keys", headers=bearer(secret)).status_code == 403
    # Shown once: not in the list, the key's page, nor the log.
    for path in (BASE, f"{BASE}/{key['id']}"):
        shown = owner.client.get(path)
        assert shown.status_code == 200 and "Billing service" in shown.text
        assert secret not in shown.text and secret[:20] not in shown.text
    flush_logs()
    out = capfd.readouterr()
    assert "api_key.create" in out.out
    assert secret not in out.out + out.err


def test_admin_creates_keys_but_cannot_grant_admin(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    admin = portal_user(app, account, "admin")
    form = admin.client.get(f"{BASE}/new")
    assert form.status_code == 200 and 'value="admin"' not in form.text
    refused = create(admin, name="Too strong", scopes=("admin",), key_type="live")
    assert refused.status_code == 403
    assert "Only an owner can grant the admin scope." in refused.text
    assert 'value="Too strong"' in refused.text  # the form is kept
    made = create(admin, name="Live reader", scopes=("licenses:read",), key_type="live")
    assert made.status_code == 201 and secret_of(made).startswith("qcos_live_")
    assert "Live reader" in names(client, account)
    # The account's first key holds admin: its new secret would be an admin key (owner-only).
    first = client.get("/api/v2/me", headers=account.headers).json()["data"]["key_id"]
    rotated = admin.post(f"{BASE}/{first}/rotate", {"grace_period": "0s"})
    assert rotated.status_code == 403 and "Only an owner can rotate" in rotated.text
    assert SECRET.search(rotated.text) is None
    assert client.get("/api/v2/me", headers=account.headers).status_code == 200


def test_a_form_without_its_csrf_token_creates_nothing(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    other = portal_user(app, account, "owner")
    form = {"name": "Forged", "type": "live", "scopes": "licenses:read", "expires": "30d"}
    missing = owner.client.post(f"{BASE}/new", data=form, follow_redirects=False)
    assert missing.status_code == 403 and "not sent from your current session" in missing.text
    foreign = owner.client.post(
        f"{BASE}/new", data={**form, "csrf_token": other.csrf()}, follow_redirects=False
    )
    assert foreign.status_code == 403
    assert "Forged" not in names(client, account)
    assert SECRET.search(missing.text + foreign.text) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "Give the key a name"),
        ({"name": "x" * 101}, "The name is too long"),
        ({"scopes": ()}, "Choose at least one scope"),
        ({"scopes": ("licenses:read", "licenses:fly")}, "Unknown scope &#39;licenses:fly&#39;"),
        ({"expires": "2w"}, "Choose an expiration"),
        ({"key_type": "gold"}, "Choose a key type"),
        ({"scopes": ("admin",)}, "a restricted key cannot have the admin scope"),
    ],
)
def test_bad_input_is_a_plain_words_400_with_the_form_kept(
    change: dict[str, object],
    message: str,
    app: FastAPI,
    client: TestClient,
    account: AccountFixture,
) -> None:
    owner = portal_user(app, account, "owner")
    fields: dict[str, object] = {"name": "Kept name", **change}
    page = create(owner, **fields)  # type: ignore[arg-type]
    assert page.status_code == 400, page.text[:500]
    assert message in page.text and 'role="alert"' in page.text
    assert SECRET.search(page.text) is None
    if fields["name"] == "Kept name":
        assert 'value="Kept name"' in page.text
        assert "Kept name" not in names(client, account)
    if "scopes" not in change:
        assert 'value="licenses:read" checked' in page.text


def test_rotate_shows_the_new_secret_once_and_ends_the_old_one(
    app: FastAPI, client: TestClient, account: AccountFixture, secrets_registry: SecretsRegistry
) -> None:
    owner = portal_user(app, account, "owner")
    made = create(owner, name="Rotating")
    old = secret_of(made)
    secrets_registry.add(old)
    key_id = api_get_by_name(client, account, "Rotating")
    confirm = owner.client.get(f"{BASE}/{key_id}/rotate")
    assert confirm.status_code == 200 and "End the old secret now" in confirm.text
    assert ">24 hours</option>" in confirm.text and old not in confirm.text
    bad = owner.post(f"{BASE}/{key_id}/rotate", {"grace_period": "forever"})
    assert bad.status_code == 400 and "Choose how long the old secret keeps working." in bad.text
    rotated = owner.post(f"{BASE}/{key_id}/rotate", {"grace_period": "0s"})
    assert rotated.status_code == 200 and WARNING in rotated.text
    new = secret_of(rotated)
    secrets_registry.add(new)
    assert new != old and old not in rotated.text
    assert client.get("/api/v2/me", headers=bearer(new)).status_code == 200
    assert client.get("/api/v2/me", headers=bearer(old)).status_code == 401
    listed = owner.client.get(BASE).text
    assert new not in listed and old not in listed


def api_get_by_name(client: TestClient, account: AccountFixture, name: str) -> str:
    listed = client.get("/api/v2/keys", headers=account.headers).json()["data"]["keys"]
    found = [key["id"] for key in listed if key["name"] == name]
    assert len(found) == 1, listed
    key_id: str = found[0]
    return key_id


def test_revoke_confirms_then_the_key_is_refused(
    app: FastAPI, client: TestClient, account: AccountFixture, secrets_registry: SecretsRegistry
) -> None:
    owner = portal_user(app, account, "owner")
    secret = secret_of(create(owner, name="Short lived"))
    secrets_registry.add(secret)
    key_id = api_get_by_name(client, account, "Short lived")
    confirm = owner.client.get(f"{BASE}/{key_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert (
        client.get("/api/v2/me", headers=bearer(secret)).status_code == 200
    )  # GET changes nothing
    done = owner.post(f"{BASE}/{key_id}/revoke")
    assert done.status_code == 303 and done.headers["location"] == f"{BASE}?done=revoked"
    listed = owner.client.get(done.headers["location"])
    assert "The key is revoked" in listed.text and "Short lived" not in listed.text
    assert client.get("/api/v2/me", headers=bearer(secret)).status_code == 401
    assert api_get(client, account, key_id)["revoked_at"] is not None
    detail = owner.client.get(f"{BASE}/{key_id}")
    assert "Revoked" in detail.text and "/rotate" not in detail.text
    again = owner.post(f"{BASE}/{key_id}/rotate", {"grace_period": "0s"})
    assert again.status_code == 409 and "Cannot rotate a revoked key." in again.text


def test_an_unknown_key_is_a_404_page(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    for path in (f"{BASE}/key_nope", f"{BASE}/key_nope/rotate", f"{BASE}/key_nope/revoke"):
        page = owner.client.get(path)
        assert page.status_code == 404 and "There is no such API key" in page.text
    assert owner.post(f"{BASE}/key_nope/revoke").status_code == 404
    assert owner.post(f"{BASE}/key_nope/rotate", {"grace_period": "0s"}).status_code == 404
