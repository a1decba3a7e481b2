"""/portal/usage, /portal/keystore, /portal/entropy: API requests and 429s reach the usage
page once the background flush has run, only the account's own usage is shown, each page
needs the scope of its API route, and the keystore shows metadata, never material."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from tests.api.test_auth_api import create_key
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.portal.support import portal_user
from tests.tokens import Issuer


def flush(app: FastAPI) -> None:
    """What the background task does every interval, now."""
    app.state.auth.flush_all()


def today_row(html: str) -> tuple[int, int]:
    """(requests, refused) in the data table's row for today (UTC)."""
    day = datetime.now(UTC).date().isoformat()
    match = re.search(rf'<th scope="row">{day}</th><td>(\d+)</td><td>(\d+)</td>', html)
    assert match, html
    return int(match.group(1)), int(match.group(2))


def test_requests_reach_the_page_after_a_flush(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = create_key(client, account.admin_key, name="Build server", scopes=["account:read"])
    for _ in range(3):
        assert client.get("/api/v2/me", headers=bearer(key["key"])).status_code == 200
    owner = portal_user(app, account, "owner")
    flush(app)
    page = owner.client.get("/portal/usage")
    assert page.status_code == 200
    html = page.text
    # The admin key made the create call; the new key made 3 requests.
    assert today_row(html) == (4, 0)
    assert '<svg role="img" aria-labelledby="requests-title requests-desc"' in html
    assert '<title id="requests-title">API requests per day</title>' in html
    assert '<desc id="requests-desc">4 requests from' in html
    assert "style=" not in html and "<script>" not in html
    assert "Build server" in html and key["id"] in html
    assert key["key"] not in html  # names and ids, never a secret
    # Another flush adds to the stored counts instead of replacing them.
    client.get("/api/v2/me", headers=bearer(key["key"]))
    flush(app)
    assert today_row(owner.client.get("/portal/usage").text) == (5, 0)


def test_429s_are_counted_for_the_refused_key(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    limited = make_account(plan="free", name="Limited")
    quota = make_account(plan="free", name="Quota")
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(limited.id, burst=2)
        AccountService(session).set_limits(quota.id, licenses_per_month=1)
    statuses = [
        client.get("/api/v2/me", headers=bearer(limited.admin_key)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    # A 429 later in the request, after the rate limit admitted it: the monthly quota.
    gen = {"end_customer_id": "c-1"}
    first = client.post("/api/v1/licenses/generate", json=gen, headers=bearer(quota.admin_key))
    assert first.status_code == 201, first.text
    spent = client.post("/api/v1/licenses/generate", json=gen, headers=bearer(quota.admin_key))
    assert spent.status_code == 429 and spent.json()["reason"] == "monthly_quota"
    flush(app)
    viewer = portal_user(app, limited, "viewer")  # every role may see the usage
    html = viewer.client.get("/portal/usage").text
    assert today_row(html) == (4, 2)
    assert '<desc id="throttled-desc">2 refused from' in html
    html = portal_user(app, quota, "viewer").client.get("/portal/usage").text
    assert today_row(html) == (2, 1)
    assert "1 of 1 (0 left)" in html


def test_another_accounts_usage_is_never_shown(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    mine = make_account(name="Mine")
    theirs = make_account(name="Theirs")
    their_key = create_key(client, theirs.admin_key, name="Their secret project")
    for _ in range(5):
        client.get("/api/v2/me", headers=bearer(their_key["key"]))
    flush(app)
    owner = portal_user(app, mine, "owner")
    html = owner.client.get("/portal/usage").text
    assert "Their secret project" not in html and their_key["id"] not in html
    assert "No API requests in the last 30 days." in html  # the new account's empty state
    assert 'href="/portal/settings/api-keys"' in html
    assert "Their secret project" in portal_user(app, theirs).client.get("/portal/usage").text


def test_keystore_lists_metadata_never_material(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    account = make_account()
    other = make_account(name="Other")
    made = client.post(
        "/api/v1/quantum/keys",
        json={"algorithm": "AES-256-GCM", "exportable": True},
        headers=bearer(account.admin_key),
    )
    assert made.status_code == 201, made.text
    created = made.json()
    theirs = client.post(
        "/api/v1/quantum/keys", json={"algorithm": "Ed25519"}, headers=bearer(other.admin_key)
    ).json()
    member = portal_user(app, account, "member")
    listing = member.client.get("/portal/keystore")
    assert listing.status_code == 200
    assert created["key_id"] in listing.text and "AES-256-GCM" in listing.text
    assert theirs["key_id"] not in listing.text
    assert created["key"] not in listing.text
    detail = member.client.get(f"/portal/keystore/{created['key_id']}")
    assert detail.status_code == 200
    assert created["key"] not in detail.text
    assert created["security_level"] in detail.text
    assert "a symmetric key has no public part" in detail.text
    assert member.client.get(f"/portal/keystore/{theirs['key_id']}").status_code == 404
    bad = member.client.get("/portal/keystore?page=x")
    assert (
        bad.status_code == 400
        and "whole number" in bad.text
        and "text/html" in bad.headers["content-type"]
    )
    # The empty state of an account without keys.
    empty = portal_user(app, make_account(name="New")).client.get("/portal/keystore")
    assert "No keys in the keystore yet." in empty.text


def test_entropy_page_reports_the_apis_levels(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    api = client.get("/api/v1/quantum/health", headers=account.headers).json()
    page = portal_user(app, account, "member").client.get("/portal/entropy")
    assert page.status_code == 200
    level = api["test_result"]["security_level"]
    assert f"<dt>Security level</dt><dd>{level}</dd>" in page.text
    for name in api["backends"]:
        assert name in page.text


def test_roles_need_the_scope_of_the_api_route(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    viewer = portal_user(app, account, "viewer")
    assert viewer.client.get("/portal/usage").status_code == 200
    for path, what in (
        ("/portal/keystore", "see the keystore"),
        ("/portal/keystore/key_nothing", "see the keystore"),
        ("/portal/entropy", "see the entropy sources"),
    ):
        page = viewer.client.get(path)
        assert page.status_code == 403, path
        assert f"Your role does not allow you to {what}." in page.text
    member = portal_user(app, account, "member")
    assert member.client.get("/portal/keystore").status_code == 200
    assert member.client.get("/portal/entropy").status_code == 200
    signed_out = client.get("/portal/usage", follow_redirects=False)
    assert signed_out.status_code == 303


def test_a_service_accounts_use_is_listed_by_its_name(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    runtime = app.state.runtime
    token, claims = Issuer(runtime.sessions, runtime.sealer).service_token(
        account.id, scopes=["account:read"]
    )
    for _ in range(2):
        assert client.get("/api/v2/me", headers=bearer(token)).status_code == 200
    flush(app)
    html = portal_user(app, account, "viewer").client.get("/portal/usage").text
    assert f'robot <span class="muted">(Service account, {claims.client_id})</span>' in html
    assert token not in html
