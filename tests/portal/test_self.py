"""/portal/settings/security ("Your sign-ins"): the user's own sessions only, signing out
one session or every other one, changing the password (current one required, the strength
rules, other sessions end) and two-factor set-up, confirmation and turning it off."""

from __future__ import annotations

import re

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.core.actor import Actor
from quantumlock.identity.models import IdentityEvent
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture
from tests.portal.support import PASSWORD, PortalUser, portal_user, sign_in

PAGE = "/portal/settings/security"
NEW_PASSWORD = "Amber-Kettle-Orbit-77"


def second_client(app: FastAPI, who: PortalUser, password: str = PASSWORD) -> TestClient:
    """The same user signed in from another browser (its own cookies)."""
    other = TestClient(app, raise_server_exceptions=False)
    assert sign_in(other, who.email, password).status_code == 303
    return other


def session_ids(app: FastAPI, account_id: str, user_id: str) -> list[str]:
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        return [row.id for row in users.sessions(Actor.operator(account_id), user_id)]


def signed_in(client: TestClient) -> bool:
    status: int = client.get("/portal", follow_redirects=False).status_code
    return status == 200


def test_the_page_lists_only_my_sessions_and_marks_this_one(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "viewer")
    second_client(app, alice)
    bob = portal_user(app, account, "owner")
    page = alice.client.get(PAGE)
    assert page.status_code == 200
    mine = session_ids(app, account.id, alice.user_id)
    assert len(mine) == 2
    assert sum(ses in page.text for ses in mine) == 1  # the other one's sign-out form
    for ses in session_ids(app, account.id, bob.user_id):
        assert ses not in page.text
    assert page.text.count("This session") == 1
    assert page.text.count(">End session</button>") == 1  # not for the current one
    assert "testclient" in page.text  # the address
    assert "Password" in page.text and '<th scope="col">Browser</th>' in page.text
    assert 'aria-current="page"' in page.text and "Sign out everywhere else" in page.text


def test_end_one_session(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    alice = portal_user(app, account, "member")
    other = second_client(app, alice)
    page = alice.client.get(PAGE).text
    found = re.findall(r"/portal/settings/security/sessions/(ses_\w+)/revoke", page)
    assert len(found) == 1
    answer = alice.post(f"{PAGE}/sessions/{found[0]}/revoke")
    assert answer.status_code == 303 and answer.headers["location"] == PAGE + "?done=revoked"
    assert not signed_in(other)
    assert signed_in(alice.client)
    assert "That session is signed out." in alice.client.get(answer.headers["location"]).text


def test_sign_out_everywhere_else_keeps_this_one(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "admin")
    others = [second_client(app, alice), second_client(app, alice)]
    answer = alice.post(f"{PAGE}/sessions/revoke-others")
    assert answer.status_code == 303
    assert [signed_in(c) for c in others] == [False, False]
    assert signed_in(alice.client)
    assert len(session_ids(app, account.id, alice.user_id)) == 1


def test_another_users_session_is_404_and_stays(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "owner")
    bob = portal_user(app, account, "viewer")
    (bobs,) = session_ids(app, account.id, bob.user_id)
    answer = alice.post(f"{PAGE}/sessions/{bobs}/revoke")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert signed_in(bob.client)
    unknown = alice.post(f"{PAGE}/sessions/ses_nothing/revoke")
    assert unknown.status_code == 404


def test_ending_this_session_signs_out(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "viewer")
    (mine,) = session_ids(app, account.id, alice.user_id)
    answer = alice.post(f"{PAGE}/sessions/{mine}/revoke")
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/login"
    assert not signed_in(alice.client)


def test_change_password_rules(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    alice = portal_user(app, account, "viewer")
    other = second_client(app, alice)
    form = {"current_password": "not my password at all", "password": NEW_PASSWORD}
    wrong = alice.post(f"{PAGE}/password", {**form, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    differ = alice.post(
        f"{PAGE}/password", {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": "x"}
    )
    assert differ.status_code == 400 and "The two new passwords differ." in differ.text
    weak = alice.post(
        f"{PAGE}/password",
        {"current_password": PASSWORD, "password": "short1", "confirm": "short1"},
    )
    assert weak.status_code == 400 and "at least 12 characters" in weak.text
    common = "password1234"
    breached = alice.post(
        f"{PAGE}/password", {"current_password": PASSWORD, "password": common, "confirm": common}
    )
    assert breached.status_code == 400
    assert signed_in(other)  # nothing changed yet
    done = alice.post(
        f"{PAGE}/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == PAGE + "?done=password"
    assert not signed_in(other)
    assert signed_in(alice.client)
    fresh = TestClient(app, raise_server_exceptions=False)
    assert sign_in(fresh, alice.email, PASSWORD).status_code == 401
    assert sign_in(fresh, alice.email, NEW_PASSWORD).status_code == 303
    with app.state.runtime.unit_of_work() as session:
        event = (
            session.query(IdentityEvent)
            .filter_by(object_id=alice.user_id, action="user.password_set")
            .one()
        )
        assert event.detail["via"] == "change"
        assert NEW_PASSWORD not in str(event.detail)


def test_totp_set_up_confirm_sign_in_and_turn_off(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "member")
    assert "Off." in alice.client.get(PAGE).text
    start = alice.post(f"{PAGE}/totp", {"totp_password": PASSWORD})
    assert start.status_code == 200
    secret_match = re.search(
        r'id="totp-secret" type="text" readonly value="([A-Z2-7]+)"', start.text
    )
    assert secret_match
    secret = secret_match.group(1)
    assert "otpauth://totp/" in start.text and f"secret={secret}" in start.text
    assert start.headers["cache-control"] == "no-store"
    wrong = alice.post(f"{PAGE}/totp/confirm", {"code": "000000"})
    assert wrong.status_code == 400 and "not a valid code" in wrong.text
    assert secret not in wrong.text  # shown once
    done = alice.post(f"{PAGE}/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    page = alice.client.get(PAGE).text
    assert "On." in page and secret not in page and codes[0] not in page
    assert "Set up two-factor" not in page
    # Signing in now asks for the code.
    fresh = TestClient(app, raise_server_exceptions=False)
    asked = sign_in(fresh, alice.email)
    assert asked.status_code == 200 and 'name="totp_code"' in asked.text
    # Turning it off needs the password or a code.
    empty = alice.post(f"{PAGE}/totp/disable", {"proof": ""})
    assert empty.status_code == 400
    refused = alice.post(f"{PAGE}/totp/disable", {"proof": "wrong password here"})
    assert refused.status_code == 400 and "Nothing changed." in refused.text
    assert "On." in alice.client.get(PAGE).text
    off = alice.post(f"{PAGE}/totp/disable", {"proof": codes[0]})
    assert off.status_code == 303 and off.headers["location"] == PAGE + "?done=totp_off"
    assert "Off." in alice.client.get(off.headers["location"]).text
    assert sign_in(TestClient(app, raise_server_exceptions=False), alice.email).status_code == 303


def test_totp_off_with_the_password(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "viewer")
    start = alice.post(f"{PAGE}/totp", {"totp_password": PASSWORD})
    secret = re.search(r'id="totp-secret" type="text" readonly value="([A-Z2-7]+)"', start.text)
    assert secret
    assert alice.post(f"{PAGE}/totp/confirm", {"code": pyotp.TOTP(secret.group(1)).now()})
    # Already on: the service's refusal as a page.
    again = alice.post(f"{PAGE}/totp", {"totp_password": PASSWORD})
    assert again.status_code == 409 and "already on" in again.text
    off = alice.post(f"{PAGE}/totp/disable", {"proof": PASSWORD})
    assert off.status_code == 303


def test_every_post_needs_the_sessions_csrf_token(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    alice = portal_user(app, account, "owner")
    other = second_client(app, alice)
    paths = [
        f"{PAGE}/sessions/revoke-others",
        f"{PAGE}/password",
        f"{PAGE}/totp",
        f"{PAGE}/totp/confirm",
        f"{PAGE}/totp/disable",
    ]
    paths += [f"{PAGE}/sessions/{s}/revoke" for s in session_ids(app, account.id, alice.user_id)]
    bob = portal_user(app, account, "owner")
    for path in paths:
        for token in (None, bob.csrf()):
            data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
            if token is not None:
                data["csrf_token"] = token
            answer = alice.client.post(path, data=data, follow_redirects=False)
            assert answer.status_code == 403, path
    assert signed_in(other) and signed_in(alice.client)
    assert sign_in(TestClient(app, raise_server_exceptions=False), alice.email).status_code == 303
