"""The team pages: members (invite with a one-time link, role, disable/enable, remove, reset
link), service accounts and OAuth clients (secret once, edit, rotate, disable, delete), the
role rules as the services enforce them, CSRF, bad input, and no secret in lists or logs."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import User
from quantumlock.observability.logging import flush_logs
from tests.conftest import AccountFixture
from tests.portal.support import PortalUser, create_user, portal_user

MEMBERS = "/portal/account/members"
ACCOUNTS = "/portal/account/service-accounts"
CLIENTS = "/portal/account/oauth-clients"
LINK = re.compile(r'value="(https?://[^"]+/login/set-password/[^"]+)"')
SECRET = re.compile(r'id="secret" type="text" readonly value="([^"]+)"')


def _user(app: FastAPI, user_id: str) -> User | None:
    with app.state.runtime.unit_of_work() as session:
        row: User | None = session.get(User, user_id)
        if row is not None:
            session.expunge(row)
        return row


def _secret_works(app: FastAPI, client_id: str, secret: str) -> bool:
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        return ClientService(session, runtime.hasher).check_secret(client_id, secret)


def _logged(capsys: pytest.CaptureFixture[str], *secrets: str) -> str:
    """Everything the service logged during the test (its JSON lines go to the output),
    after checking that no secret is in it."""
    flush_logs()  # the log sink is buffered
    out = capsys.readouterr()
    text = out.out + out.err
    for secret in secrets:
        assert secret not in text
    return text


def test_invite_shows_the_link_once_and_members_are_managed(
    app: FastAPI, client: TestClient, account: AccountFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = portal_user(app, account, "owner")
    form = owner.client.get(MEMBERS + "/invite")
    assert form.status_code == 200 and '<label for="f-email">' in form.text
    made = owner.post(MEMBERS + "/invite", {"email": "New.Person@Acme.example", "role": "member"})
    assert made.status_code == 200, made.text[:500]
    link = LINK.search(made.text)
    assert link and 'data-copy="link"' in made.text and "shown only once" in made.text
    token = link.group(1).rsplit("/", 1)[1]
    listing = owner.client.get(MEMBERS)
    assert "new.person@acme.example" in listing.text and token not in listing.text
    assert "Has not set a password yet" in listing.text
    member_id = re.search(r'href="/portal/account/members/(usr_[^"]+)">Manage<span'
                          r' class="visually-hidden"> new.person', listing.text)  # fmt: skip
    assert member_id
    uid = member_id.group(1)
    detail = owner.client.get(f"{MEMBERS}/{uid}")
    assert detail.status_code == 200 and token not in detail.text
    # The link works (the identity set-password page accepts it).
    assert client.get(link.group(1).split("testserver", 1)[-1]).status_code == 200

    role = owner.post(f"{MEMBERS}/{uid}/role", {"role": "admin"})
    assert role.status_code == 303 and role.headers["location"].endswith("?done=role")
    assert (u := _user(app, uid)) and u.role == "admin"
    assert owner.post(f"{MEMBERS}/{uid}/disable").status_code == 303
    assert (u := _user(app, uid)) and u.status == "disabled"
    assert "Disabled" in owner.client.get(MEMBERS).text
    assert owner.post(f"{MEMBERS}/{uid}/enable").status_code == 303
    assert (u := _user(app, uid)) and u.status == "active"

    reset = owner.post(f"{MEMBERS}/{uid}/password-link")
    second = LINK.search(reset.text)
    assert reset.status_code == 200 and second and second.group(1) != link.group(1)
    new_token = second.group(1).rsplit("/", 1)[1]
    assert new_token not in owner.client.get(MEMBERS).text
    assert new_token not in owner.client.get(f"{MEMBERS}/{uid}").text

    confirm = owner.client.get(f"{MEMBERS}/{uid}/remove")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    gone = owner.post(f"{MEMBERS}/{uid}/remove")
    assert gone.status_code == 303 and gone.headers["location"] == MEMBERS + "?done=removed"
    assert _user(app, uid) is None
    assert owner.client.get(f"{MEMBERS}/{uid}").status_code == 404
    assert '"event":"portal.member.invite"' in _logged(capsys, token, new_token)


def test_admin_cannot_touch_owners_nor_make_one(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    admin = portal_user(app, account, "admin")
    _, owner_id = create_user(app, account.id, "owner")
    _, member_id = create_user(app, account.id, "member")
    listing = admin.client.get(MEMBERS)
    assert listing.status_code == 200
    assert f'href="{MEMBERS}/{owner_id}"' not in listing.text
    assert f'href="{MEMBERS}/{member_id}"' in listing.text
    page = admin.client.get(f"{MEMBERS}/{owner_id}")
    assert page.status_code == 200 and "/disable" not in page.text and "/role" not in page.text
    assert 'value="owner"' not in admin.client.get(MEMBERS + "/invite").text
    assert 'value="owner"' not in admin.client.get(f"{MEMBERS}/{member_id}").text
    forced = [
        admin.post(f"{MEMBERS}/{owner_id}/role", {"role": "viewer"}),
        admin.post(f"{MEMBERS}/{owner_id}/disable"),
        admin.post(f"{MEMBERS}/{owner_id}/password-link"),
        admin.post(f"{MEMBERS}/{owner_id}/remove"),
        admin.client.get(f"{MEMBERS}/{owner_id}/remove"),
        admin.post(f"{MEMBERS}/{member_id}/role", {"role": "owner"}),
        admin.post(MEMBERS + "/invite", {"email": "boss@acme.example", "role": "owner"}),
    ]
    for answer in forced:
        assert answer.status_code == 403, answer.text[:300]
        assert "Your role does not allow you to" in answer.text
    assert (u := _user(app, owner_id)) and u.role == "owner" and u.status == "active"
    assert (u := _user(app, member_id)) and u.role == "member"
    # An owner may make an owner.
    owner = portal_user(app, account, "owner")
    assert owner.post(f"{MEMBERS}/{member_id}/role", {"role": "owner"}).status_code == 303
    assert (u := _user(app, member_id)) and u.role == "owner"


def test_the_last_owner_stays(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    owner = portal_user(app, account, "owner")
    demote = owner.post(f"{MEMBERS}/{owner.user_id}/role", {"role": "admin"})
    assert demote.status_code == 409 and "last active owner" in demote.text
    assert '<select id="f-role"' in demote.text  # the form is there again
    assert owner.post(f"{MEMBERS}/{owner.user_id}/disable").status_code == 409
    assert owner.post(f"{MEMBERS}/{owner.user_id}/remove").status_code == 409
    assert (u := _user(app, owner.user_id)) and u.role == "owner" and u.status == "active"


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_roles_without_admin_get_403_pages(
    app: FastAPI, client: TestClient, account: AccountFixture, role: str
) -> None:
    user = portal_user(app, account, role)
    for path in (MEMBERS, MEMBERS + "/invite", ACCOUNTS, ACCOUNTS + "/new", CLIENTS + "/new"):
        answer = user.client.get(path)
        assert answer.status_code == 403 and "Your role does not allow you to" in answer.text
    forced = user.post(MEMBERS + "/invite", {"email": "x@acme.example", "role": "viewer"})
    assert forced.status_code == 403
    made = user.post(ACCOUNTS + "/new", {"name": "x", "scopes": "licenses:read"})
    assert made.status_code == 403


def test_csrf_and_bad_input(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    owner = portal_user(app, account, "owner")
    no_token = owner.client.post(
        MEMBERS + "/invite", data={"email": "csrf@acme.example", "role": "viewer"}
    )
    assert no_token.status_code == 403 and "not sent from your current session" in no_token.text
    other = portal_user(app, account, "owner")
    wrong = owner.client.post(
        ACCOUNTS + "/new", data={"csrf_token": other.csrf(), "name": "x", "scopes": "admin"}
    )
    assert wrong.status_code == 403
    listing = owner.client.get(MEMBERS).text
    assert "csrf@acme.example" not in listing
    assert "No service accounts yet." in owner.client.get(ACCOUNTS).text

    bad = owner.post(
        MEMBERS + "/invite", {"email": "not-an-address", "name": "Kept", "role": "admin"}
    )
    assert bad.status_code == 400 and "email: not an email address." in bad.text
    assert 'value="not-an-address"' in bad.text and 'value="Kept"' in bad.text
    assert '<option value="admin" selected>' in bad.text
    role = owner.post(MEMBERS + "/invite", {"email": "r@acme.example", "role": "emperor"})
    assert role.status_code == 400 and "role: must be one of" in role.text
    taken = owner.post(MEMBERS + "/invite", {"email": owner.email, "role": "viewer"})
    assert taken.status_code == 409 and "already exists" in taken.text

    no_scopes = owner.post(ACCOUNTS + "/new", {"name": "Kept name"})
    assert no_scopes.status_code == 400 and "give at least one scope" in no_scopes.text
    assert 'value="Kept name"' in no_scopes.text
    unknown = owner.post(ACCOUNTS + "/new", {"name": "n", "scopes": ["licenses:read", "root"]})
    assert unknown.status_code == 400 and "Unknown scope" in unknown.text
    assert re.search(r'value="licenses:read" checked', unknown.text)
    http = owner.post(
        CLIENTS + "/new",
        {
            "name": "App",
            "kind": "confidential",
            "redirect_uris": "https://ok.example/cb\nhttp://evil.example/cb",
            "grant_types": "authorization_code",
            "scopes": "openid",
        },
    )
    assert http.status_code == 400 and "http only for localhost" in http.text
    assert "http://evil.example/cb" in http.text and 'value="App"' in http.text
    kind = owner.post(CLIENTS + "/new", {"name": "App", "kind": "weird", "scopes": "openid"})
    assert kind.status_code == 400 and "kind: must be confidential or public." in kind.text
    grace = owner.post(ACCOUNTS + "/service_nope/rotate", {"grace_period": "12"})
    assert grace.status_code == 400


def test_service_account_secret_once_rotate_disable_delete(
    app: FastAPI, client: TestClient, account: AccountFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = portal_user(app, account, "owner")
    empty = owner.client.get(ACCOUNTS)
    assert "No service accounts yet." in empty.text and "New service account" in empty.text
    form = owner.client.get(ACCOUNTS + "/new").text
    assert 'value="admin"' in form and 'value="licenses:write"' in form
    made = owner.post(ACCOUNTS + "/new", {"name": "CI job", "scopes": ["licenses:write"]})
    assert made.status_code == 200, made.text[:500]
    found = SECRET.search(made.text)
    assert found and 'data-copy="secret"' in made.text
    secret = found.group(1)
    client_id = re.search(r"<code>(service_[^<]+)</code>", made.text)
    assert client_id
    cid = client_id.group(1)
    assert _secret_works(app, cid, secret)
    listing = owner.client.get(ACCOUNTS).text
    assert cid in listing and secret not in listing and "CI job" in listing
    detail = owner.client.get(f"{ACCOUNTS}/{cid}").text
    assert secret not in detail and secret[:11] in detail  # the prefix, never the secret

    edit = owner.post(f"{ACCOUNTS}/{cid}/edit", {"name": "CI", "scopes": ["licenses:read"]})
    assert edit.status_code == 303
    assert "licenses:read" in owner.client.get(f"{ACCOUNTS}/{cid}").text

    rotated = owner.post(f"{ACCOUNTS}/{cid}/rotate", {"grace_period": "0"})
    assert rotated.status_code == 200
    again = SECRET.search(rotated.text)
    assert again and again.group(1) != secret and "no longer work" in rotated.text
    assert _secret_works(app, cid, again.group(1)) and not _secret_works(app, cid, secret)
    for page in (ACCOUNTS, f"{ACCOUNTS}/{cid}"):
        assert again.group(1) not in owner.client.get(page).text

    assert owner.post(f"{ACCOUNTS}/{cid}/disable").status_code == 303
    assert "Disabled" in owner.client.get(ACCOUNTS).text
    assert owner.post(f"{ACCOUNTS}/{cid}/enable").status_code == 303
    confirm = owner.client.get(f"{ACCOUNTS}/{cid}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    deleted = owner.post(f"{ACCOUNTS}/{cid}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("?done=deleted")
    assert owner.client.get(f"{ACCOUNTS}/{cid}").status_code == 404
    assert not _secret_works(app, cid, again.group(1))
    logged = _logged(capsys, secret, again.group(1))
    assert '"event":"portal.service_account.rotate_secret"' in logged


def test_only_owners_grant_admin_or_rotate_an_admin_credential(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    admin = portal_user(app, account, "admin")
    made = owner.post(ACCOUNTS + "/new", {"name": "root job", "scopes": "admin"})
    cid = re.search(r"<code>(service_[^<]+)</code>", made.text)
    assert made.status_code == 200 and cid
    assert 'value="admin"' not in admin.client.get(ACCOUNTS + "/new").text
    forced = admin.post(ACCOUNTS + "/new", {"name": "x", "scopes": "admin"})
    assert forced.status_code == 403 and "Only an owner can grant the admin scope" in forced.text
    page = admin.client.get(f"{ACCOUNTS}/{cid.group(1)}").text
    assert "Rotate secret" not in page and "Only an owner can rotate" in page
    assert 'value="admin" checked' in page  # kept, so saving the form does not drop it unseen
    rotate = admin.post(f"{ACCOUNTS}/{cid.group(1)}/rotate", {"grace_period": "0"})
    assert rotate.status_code == 403 and "Your role does not allow you to" in rotate.text
    oc = admin.post(
        CLIENTS + "/new",
        {
            "name": "x",
            "kind": "confidential",
            "redirect_uris": "https://a.example/cb",
            "grant_types": "authorization_code",
            "scopes": ["openid", "admin"],
        },
    )
    assert oc.status_code == 403


def test_oauth_clients_create_edit_rotate_delete(
    app: FastAPI, client: TestClient, account: AccountFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    owner: PortalUser = portal_user(app, account, "admin")
    assert "No OAuth clients yet." in owner.client.get(CLIENTS).text
    made = owner.post(
        CLIENTS + "/new",
        {
            "name": "Dashboard",
            "kind": "confidential",
            "redirect_uris": "https://dash.example/cb\n\nhttp://localhost:8080/cb",
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "email", "licenses:read"],
        },
    )
    assert made.status_code == 200, made.text[:500]
    found = SECRET.search(made.text)
    cid = re.search(r"<code>(client_[^<]+)</code>", made.text)
    assert found and cid
    secret, client_id = found.group(1), cid.group(1)
    assert _secret_works(app, client_id, secret)
    listing = owner.client.get(CLIENTS).text
    assert client_id in listing and "https://dash.example/cb" in listing and secret not in listing

    edit = owner.post(
        f"{CLIENTS}/{client_id}/edit",
        {
            "name": "Dashboard 2",
            "redirect_uris": "https://dash.example/callback",
            "grant_types": "authorization_code",
            "scopes": ["openid", "profile"],
        },
    )
    assert edit.status_code == 303
    detail = owner.client.get(f"{CLIENTS}/{client_id}").text
    assert "https://dash.example/callback" in detail and "Dashboard 2" in detail
    assert secret not in detail
    bad = owner.post(
        f"{CLIENTS}/{client_id}/edit",
        {"name": "Dashboard 2", "redirect_uris": "https://x.example/#frag", "scopes": "openid",
         "grant_types": "authorization_code"},
    )  # fmt: skip
    assert (
        bad.status_code == 400 and "fragment" in bad.text and "https://x.example/#frag" in bad.text
    )

    rotated = owner.post(f"{CLIENTS}/{client_id}/rotate", {"grace_period": "3600"})
    new = SECRET.search(rotated.text)
    assert rotated.status_code == 200 and new and new.group(1) != secret
    assert "keep working until" in rotated.text
    assert _secret_works(app, client_id, secret) and _secret_works(app, client_id, new.group(1))

    public = owner.post(
        CLIENTS + "/new",
        {"name": "SPA", "kind": "public", "redirect_uris": "https://spa.example/cb",
         "grant_types": "authorization_code", "scopes": "openid"},
    )  # fmt: skip
    assert public.status_code == 303 and public.headers["location"].endswith("?done=created")
    spa = owner.client.get(public.headers["location"]).text
    assert "Rotate secret" not in spa and "Created." in spa

    assert owner.post(f"{CLIENTS}/{client_id}/disable").status_code == 303
    assert owner.post(f"{CLIENTS}/{client_id}/enable").status_code == 303
    assert owner.client.get(f"{CLIENTS}/{client_id}/delete").status_code == 200
    assert owner.post(f"{CLIENTS}/{client_id}/delete").status_code == 303
    assert owner.client.get(f"{CLIENTS}/{client_id}").status_code == 404
    assert '"event":"portal.oauth_client.rotate_secret"' in _logged(capsys, secret, new.group(1))
