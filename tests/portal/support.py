"""In-process portal helpers: a user of a role in an account, signed in through
/portal/login on its own TestClient (its own cookie jar), and the page's CSRF token."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.core.actor import Actor
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture

PASSWORD = "correct horse battery 9"


@dataclass
class PortalUser:
    client: TestClient
    email: str
    user_id: str
    role: str

    def csrf(self, path: str = "/portal") -> str:
        """The CSRF token the portal's pages carry for this session."""
        return csrf_of(self.client.get(path).text)

    def post(self, path: str, data: Mapping[str, str | list[str]] | None = None) -> httpx.Response:
        """POST a form with this session's CSRF token (not following the redirect)."""
        form: dict[str, str | list[str]] = {"csrf_token": self.csrf(), **(data or {})}
        answer: httpx.Response = self.client.post(path, data=form, follow_redirects=False)
        return answer


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def create_user(
    app: FastAPI, account_id: str, role: str, email: str | None = None
) -> tuple[str, str]:
    """A user with PASSWORD; returns (email, user id). Emails are unique per call (the
    database is the worker's)."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        created = UserService(session, runtime.hasher, runtime.sealer).create(
            Actor.operator(account_id), email=email, role=role, password=PASSWORD
        )
        return email, created.user.id


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/portal/login")
    assert page.status_code == 200, page.text[:500]
    form = {"csrf_token": csrf_of(page.text), "email": email, "password": password}
    answer: httpx.Response = client.post("/portal/login", data=form, follow_redirects=False)
    return answer


def portal_user(app: FastAPI, account: AccountFixture | str, role: str = "owner") -> PortalUser:
    """A new user of `role` in the account, signed in on a TestClient of their own (its own
    cookies). The test must also use the `client` fixture: that one runs the app's start-up,
    which this client, made without a `with`, does not."""
    account_id = account if isinstance(account, str) else account.id
    email, user_id = create_user(app, account_id, role)
    client = TestClient(app, raise_server_exceptions=False)
    answer = sign_in(client, email)
    assert answer.status_code == 303, answer.text[:500]
    return PortalUser(client=client, email=email, user_id=user_id, role=role)
