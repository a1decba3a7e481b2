"""/portal/login/forgot: without mail, who can hand over a reset link; with mail (a real
SMTP server, aiosmtpd, on a free port) the one-time link is mailed and works, the answer is
the same whatever the email (and no mail for an unknown one), requests are rate-limited and
the form needs its CSRF cookie token."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from quantumlock.app import create_app
from quantumlock.settings import Settings
from tests.conftest import AccountFixture
from tests.portal.support import create_user, csrf_of, sign_in

PAGE = "/portal/login/forgot"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-Secret-4815162342"
NEW_PASSWORD = "Amber-Kettle-Orbit-77"


@dataclass
class Inbox:
    port: int
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,  # a local test server; STARTTLS is off in the settings too
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mail_app(settings: Settings, inbox: Inbox) -> Iterator[FastAPI]:
    configured = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": inbox.port,
            "smtp_starttls": False,
            "smtp_username": SMTP_USER,
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "smtp_from": "QuantumLock <no-reply@example.com>",
            "smtp_timeout": 5.0,
            "issuer": "https://portal.example.com",
        }
    )
    built = create_app(configured)
    yield built
    built.state.runtime.engine.dispose()


@pytest.fixture
def mail_client(mail_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(mail_app, raise_server_exceptions=False) as test_client:
        yield test_client


def ask(
    client: TestClient, email: str, *, token: str | None = None, send_token: bool = True
) -> Any:
    """POST the form; without `token`, the one the page gives (`send_token=False`: none)."""
    data = {"email": email}
    if send_token:
        data["csrf_token"] = token or csrf_of(client.get(PAGE).text)
    return client.post(PAGE, data=data)


def test_without_mail_it_says_who_can_hand_over_a_link(client: TestClient) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "quantumlock users password-link" in page.text
    assert "Members" in page.text and "Reset password link" in page.text
    assert 'name="email"' not in page.text  # nothing to fill in: no mail goes out
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    login = client.get("/portal/login")
    assert 'href="/portal/login/forgot"' in login.text


def test_the_mailed_link_sets_a_new_password(
    mail_app: FastAPI, mail_client: TestClient, inbox: Inbox, account: AccountFixture
) -> None:
    email, _ = create_user(mail_app, account.id, "member")
    form = mail_client.get(PAGE)
    assert 'name="email"' in form.text and '<label for="email">' in form.text
    answer = ask(mail_client, email.upper())  # the address as typed, any case
    assert answer.status_code == 200 and "on its way" in answer.text
    assert len(inbox.messages) == 1 and inbox.logins in (["LOGIN"], ["PLAIN"])
    mail = inbox.messages[0]
    assert mail["To"] == email and mail["From"] == "QuantumLock <no-reply@example.com>"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    link = re.search(r"https://portal\.example\.com(/login/set-password/[A-Za-z0-9_-]+)", body)
    assert link, body
    assert link.group(1) not in answer.text
    # The link works once: set a new password, then sign in with it.
    page = mail_client.get(link.group(1))
    assert page.status_code == 200 and email in page.text
    done = mail_client.post(
        link.group(1),
        data={"csrf_token": csrf_of(page.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 200 and "Your password is set" in done.text
    assert mail_client.get(link.group(1)).status_code == 404
    assert sign_in(TestClient(mail_app), email, NEW_PASSWORD).status_code == 303


def test_same_answer_whatever_the_email_and_no_mail_for_a_stranger(
    mail_app: FastAPI, mail_client: TestClient, inbox: Inbox, account: AccountFixture
) -> None:
    email, _ = create_user(mail_app, account.id, "viewer")
    token = csrf_of(mail_client.get(PAGE).text)
    unknown = ask(mail_client, "nobody-here@example.com", token=token)
    assert inbox.messages == []
    known = ask(mail_client, email, token=token)
    assert len(inbox.messages) == 1
    assert unknown.status_code == known.status_code == 200
    assert unknown.text == known.text
    assert "nobody-here" not in unknown.text


def test_rate_limited_per_address(
    mail_client: TestClient, inbox: Inbox, settings: Settings
) -> None:
    token = csrf_of(mail_client.get(PAGE).text)
    burst = settings.password_reset_burst
    for n in range(burst):
        assert ask(mail_client, f"someone-{n}@example.com", token=token).status_code == 200
    refused = ask(mail_client, "someone-else@example.com", token=token)
    assert refused.status_code == 429 and "Too many requests" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert 'value="someone-else@example.com"' in refused.text  # the form is kept


def test_csrf_and_bad_input(
    mail_app: FastAPI, mail_client: TestClient, inbox: Inbox, account: AccountFixture
) -> None:
    email, _ = create_user(mail_app, account.id, "admin")
    mail_client.get(PAGE)  # the CSRF cookie
    missing = ask(mail_client, email, send_token=False)
    assert missing.status_code == 400 and "The form expired" in missing.text
    forged = ask(mail_client, email, token="x" * 43)
    assert forged.status_code == 400
    not_email = ask(mail_client, "not an address")
    assert not_email.status_code == 400 and "Enter the email address" in not_email.text
    assert inbox.messages == []


def test_the_smtp_password_is_never_logged(
    settings: Settings, account: AccountFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # An SMTP server that is not there: the failure is logged, without the password.
    broken = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),
            "smtp_starttls": False,
            "smtp_username": SMTP_USER,
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "issuer": "https://portal.example.com",
        }
    )
    assert SMTP_PASSWORD not in repr(broken) and SMTP_PASSWORD not in str(broken.model_dump())
    app = create_app(broken)
    try:
        email, _ = create_user(app, account.id, "viewer")
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = ask(client, email)
            assert answer.status_code == 200 and "on its way" in answer.text
    finally:
        app.state.runtime.engine.dispose()
    out = capsys.readouterr()
    assert "portal.mail_failed" in out.out + out.err
    assert SMTP_PASSWORD not in out.out + out.err
    assert email not in out.out + out.err
