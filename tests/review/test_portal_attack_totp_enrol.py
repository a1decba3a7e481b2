"""A stolen portal session must not turn two-factor on with the thief's authenticator: the
owner of the account, who knows the password, could then no longer sign in. Setting up
two-factor asks for the current password (as turning it off does); a wrong one counts
towards the sign-in lock-out."""

from __future__ import annotations

import re

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.portal.support import PASSWORD, portal_user, sign_in

PAGE = "/portal/settings/security"
SECRET = re.compile(r'id="totp-secret" type="text" readonly value="([A-Z2-7]+)"')


def test_setting_up_two_factor_needs_the_password(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    victim = portal_user(app, account, "member")
    for form in ({}, {"totp_password": "a guess"}):
        start = victim.post(PAGE + "/totp", form)  # the thief, in the victim's session
        assert start.status_code == 400, start.text[:300]
        assert not SECRET.search(start.text)
    # So the thief never confirms a code, and the victim still signs in with the password.
    assert sign_in(TestClient(app, raise_server_exceptions=False), victim.email).status_code == 303
    # The user themself, with the password: the secret, once.
    start = victim.post(PAGE + "/totp", {"totp_password": PASSWORD})
    assert start.status_code == 200
    found = SECRET.search(start.text)
    assert found
    done = victim.post(PAGE + "/totp/confirm", {"code": pyotp.TOTP(found.group(1)).now()})
    assert done.status_code == 200
