"""The ACS end to end in-process: SP-initiated login (signed AuthnRequest, stored request,
relay state), the response checks' reason codes and audit, InResponseTo spending, replay,
JIT provisioning and group mapping, IdP-initiated login."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]
from sqlalchemy import select

from quantumlock.core.actor import Actor
from quantumlock.identity.models import IdentityEvent, SamlRequest, User, UserSession
from quantumlock.identity.users.endpoints import SESSION_COOKIE
from quantumlock.identity.users.service import UserService
from tests.conftest import AccountFixture, MakeAccount
from tests.saml_protocol.kit import IDP_SSO, OTHER, Spec, add_connection, build


def email() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


def start_login(client: TestClient, account_id: str, next_path: str = "/portal") -> str:
    """GET /saml/{account}/login; the AuthnRequest's ID."""
    answer = client.get(
        f"/saml/{account_id}/login", params={"next": next_path}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(IDP_SSO + "?")
    query = parse_qs(urlsplit(location).query)
    assert set(query) >= {"SAMLRequest", "RelayState", "SigAlg", "Signature"}
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0]).decode()
    match = re.search(r'ID="([^"]+)"', xml)
    assert match
    return match.group(1)


def post(
    client: TestClient, account_id: str, response: str, relay: str | None = None
) -> httpx.Response:
    data = {"SAMLResponse": response}
    if relay is not None:
        data["RelayState"] = relay
    answer: httpx.Response = client.post(
        f"/saml/{account_id}/acs", data=data, follow_redirects=False
    )
    return answer


def events(app: FastAPI, account_id: str, action: str) -> list[dict[str, Any]]:
    with app.state.runtime.unit_of_work() as session:
        rows = session.scalars(
            select(IdentityEvent)
            .where(IdentityEvent.account_id == account_id, IdentityEvent.action == action)
            .order_by(IdentityEvent.id)
        ).all()
        return [dict(row.detail) for row in rows]


def user_by_email(app: FastAPI, address: str) -> User | None:
    with app.state.runtime.unit_of_work() as session:
        user: User | None = session.scalars(select(User).where(User.email == address)).first()
        if user is not None:
            session.expunge(user)
        return user


def refused(app: FastAPI, client: TestClient, account_id: str, spec: Spec, reason: str) -> None:
    answer = post(client, account_id, build(spec))
    assert answer.status_code in (400, 403), answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert "text/html" in answer.headers["content-type"]
    got = events(app, account_id, "saml.login_failed")
    assert got and got[-1]["reason"] == reason, got


def test_sp_initiated_round_trip_jit_user_with_mapped_role(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(
        app, account.id, attribute_email=None, group_roles={"eng": "member", "ops": "admin"}
    )
    request_id = start_login(client, account.id, "/portal?tab=1")
    address = email()
    spec = Spec(
        account.id,
        name_id="nameid-123",
        in_response_to=request_id,
        attributes={"email": [address.upper()], "name": ["Ada"], "groups": ["eng", "ops"]},
    )
    answer = post(client, account.id, build(spec), relay="https://evil.example/")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal?tab=1"  # the stored relay, not the POSTed
    assert answer.headers["set-cookie"].startswith(SESSION_COOKIE + "=")
    user = user_by_email(app, address)
    assert user is not None and user.role == "admin" and user.password_hash is None
    assert user.name == "Ada"
    with app.state.runtime.unit_of_work() as session:
        row = session.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()
        assert (row.method, row.sso_name_id, row.sso_session_index) == (
            "sso",
            "nameid-123",
            "_sess1",
        )
        request = session.get(SamlRequest, request_id)
        assert request is not None and request.used_at is not None
    (created,) = events(app, account.id, "user.create")
    assert created == {"via": "saml", "role": "admin"}
    (login,) = events(app, account.id, "saml.login")
    assert login["provisioned"] is True and login["idp_initiated"] is False
    assert login["role"] == "admin" and login["name_id"] == "nameid-123"


def test_request_is_spent_once_and_replay_is_refused(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id)
    request_id = start_login(client, account.id)
    spec = Spec(account.id, name_id=email(), in_response_to=request_id)
    first, first_id = build(spec), spec.assertion_id
    assert post(client, account.id, first).status_code == 303
    # The same response again: a replay (the assertion ID is checked first).
    again = post(client, account.id, first)
    assert again.status_code == 400
    assert events(app, account.id, "saml.login_failed")[-1]["reason"] == "replay"
    # A new assertion for the spent request: the request is used up.
    spec.assertion_id = "_b" + uuid.uuid4().hex
    refused(app, client, account.id, spec, "unknown_request")
    # A new request, but the first assertion's ID: a replay.
    spec.assertion_id = first_id
    spec.in_response_to = start_login(client, account.id)
    refused(app, client, account.id, spec, "replay")


def test_unknown_and_foreign_requests_are_refused(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    mine, theirs = make_account(), make_account()
    add_connection(app, mine.id)
    add_connection(app, theirs.id)
    refused(
        app,
        client,
        mine.id,
        Spec(mine.id, name_id=email(), in_response_to="_nope"),
        "unknown_request",
    )
    foreign = start_login(client, theirs.id)
    refused(
        app,
        client,
        mine.id,
        Spec(mine.id, name_id=email(), in_response_to=foreign),
        "unknown_request",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sign_assertion": False}, "unsigned"),
        ({"signer": OTHER}, "invalid_signature"),
        ({"sha1": True}, "invalid_signature"),
        ({"sign_assertion": False, "sign_response": True, "sha1": True}, "invalid_signature"),
        ({"issuer": "https://other-idp.example/"}, "wrong_issuer"),
        ({"audience": "https://other-sp.example/metadata"}, "wrong_audience"),
        ({"recipient": "https://other-sp.example/acs"}, "wrong_recipient"),
        ({"destination": "https://other-sp.example/acs"}, "wrong_destination"),
        # python3-saml accepts these (substring / prefix matches); we want the exact ACS URL.
        ({"recipient": "https://evil.example/?u={acs}"}, "wrong_recipient"),
        ({"destination": "{acs}/../evil"}, "wrong_destination"),
        ({"not_on_or_after": timedelta(minutes=-3)}, "expired"),
        ({"scd_not_on_or_after": timedelta(minutes=-3)}, "expired"),
        ({"not_before": timedelta(minutes=3)}, "not_yet_valid"),
    ],
)
def test_bad_responses_have_their_reason(
    app: FastAPI,
    client: TestClient,
    account: AccountFixture,
    change: dict[str, Any],
    reason: str,
) -> None:
    add_connection(app, account.id)
    request_id = start_login(client, account.id)
    spec = Spec(account.id, name_id=email(), in_response_to=request_id, **change)
    refused(app, client, account.id, spec, reason)


def test_clock_skew_is_the_connections(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    # 90 s past NotOnOrAfter: within python3-saml's fixed 300 s, beyond a 30 s skew.
    strict, lenient = make_account(), make_account()
    add_connection(app, strict.id, clock_skew_seconds=30)
    add_connection(app, lenient.id, clock_skew_seconds=120)
    late: dict[str, Any] = {"not_on_or_after": timedelta(seconds=-90)}
    spec = Spec(strict.id, name_id=email(), in_response_to=start_login(client, strict.id), **late)
    refused(app, client, strict.id, spec, "expired")
    spec = Spec(lenient.id, name_id=email(), in_response_to=start_login(client, lenient.id), **late)
    assert post(client, lenient.id, build(spec)).status_code == 303
    # SubjectConfirmationData's NotOnOrAfter (python3-saml allows no skew on it) too.
    spec = Spec(
        lenient.id,
        name_id=email(),
        in_response_to=start_login(client, lenient.id),
        scd_not_on_or_after=timedelta(seconds=-20),
    )
    assert post(client, lenient.id, build(spec)).status_code == 303
    spec = Spec(
        strict.id,
        name_id=email(),
        in_response_to=start_login(client, strict.id),
        scd_not_on_or_after=timedelta(seconds=-40),
    )
    refused(app, client, strict.id, spec, "expired")


def test_signed_response_with_unsigned_assertion_is_accepted(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id)
    spec = Spec(
        account.id,
        name_id=email(),
        in_response_to=start_login(client, account.id),
        sign_assertion=False,
        sign_response=True,
    )
    assert post(client, account.id, build(spec)).status_code == 303


def test_unsigned_response_with_its_in_response_to_outside_the_signature(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    # An IdP-initiated assertion (no InResponseTo in it) with an InResponseTo added on the
    # unsigned Response: not trusted, so it stays IdP-initiated (refused here).
    add_connection(app, account.id)
    request_id = start_login(client, account.id)

    def add_irt(xml: str) -> str:
        return xml.replace("<samlp:Response ", f'<samlp:Response InResponseTo="{request_id}" ', 1)

    spec = Spec(account.id, name_id=email(), xml_hook=add_irt)
    refused(app, client, account.id, spec, "idp_initiated_not_allowed")


def test_idp_initiated_when_allowed_uses_a_safe_relay_state(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id, allow_idp_initiated=True)
    spec = Spec(account.id, name_id=email())
    answer = post(client, account.id, build(spec), relay="/keys")
    assert answer.status_code == 303 and answer.headers["location"] == "/keys"
    spec = Spec(account.id, name_id=email())
    answer = post(client, account.id, build(spec), relay="//evil.example/")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert events(app, account.id, "saml.login")[-1]["idp_initiated"] is True


@pytest.mark.parametrize(
    "body",
    [
        b"SAMLResponse=%%%not-base64",
        b"SAMLResponse=" + b"QUJD" * 10,  # base64 of a non-XML text
        b"SAMLResponse=",
        b"nothing=here",
        b"\xff\xfe\x00garbage",
    ],
)
def test_garbage_is_malformed_never_500(
    app: FastAPI, client: TestClient, account: AccountFixture, body: bytes
) -> None:
    add_connection(app, account.id)
    answer = client.post(
        f"/saml/{account.id}/acs",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400, answer.text
    assert events(app, account.id, "saml.login_failed")[-1]["reason"] == "malformed"


def test_dtd_and_huge_bodies_are_malformed(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    import base64

    add_connection(app, account.id)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><samlp:Response '
        'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>'
    )
    answer = post(client, account.id, base64.b64encode(bomb.encode()).decode())
    assert answer.status_code == 400
    big = client.post(
        f"/saml/{account.id}/acs",
        content=b"SAMLResponse=" + b"A" * (600 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 400
    # Beyond the server's body limit: refused before the app (413), never a 500.
    huge = client.post(
        f"/saml/{account.id}/acs",
        content=b"SAMLResponse=" + b"A" * (3 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    reasons = [e["reason"] for e in events(app, account.id, "saml.login_failed")]
    assert reasons == ["malformed", "malformed"]


def test_no_and_disabled_connection(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    none, off = make_account(), make_account()
    add_connection(app, off.id, enabled=False)
    answer = post(client, none.id, build(Spec(none.id, name_id=email())))
    assert answer.status_code == 404
    assert events(app, none.id, "saml.login_failed")[-1]["reason"] == "no_connection"
    refused(app, client, off.id, Spec(off.id, name_id=email()), "connection_disabled")
    assert client.get(f"/saml/{off.id}/login").status_code == 403
    # An account that does not exist: a page, and nothing to audit.
    assert post(client, "acc_nope", build(Spec("acc_nope", name_id=email()))).status_code == 404


def _existing(app: FastAPI, account_id: str, role: str, status: str = "active") -> str:
    address = email()
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        users = UserService(session, runtime.hasher, runtime.sealer)
        created = users.create(Actor.operator(account_id), email=address, role=role)
        if status == "disabled":
            created.user.status = "disabled"
    return address


def test_existing_user_group_mapping_never_touches_owners(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    add_connection(app, account.id, group_roles={"viewers": "viewer", "root": "owner"})
    member = _existing(app, account.id, "member")
    owner = _existing(app, account.id, "owner")
    for address in (member, owner):
        spec = Spec(
            account.id,
            name_id=address,
            in_response_to=start_login(client, account.id),
            attributes={"groups": ["viewers", "root"]},
        )
        assert post(client, account.id, build(spec)).status_code == 303
    assert user_by_email(app, member).role == "viewer"  # type: ignore[union-attr]
    assert user_by_email(app, owner).role == "owner"  # type: ignore[union-attr]
    (update,) = events(app, account.id, "user.update")
    assert update == {"via": "saml", "role": {"from": "member", "to": "viewer"}}
    logins = events(app, account.id, "saml.login")
    assert [e["provisioned"] for e in logins] == [False, False]


def test_policy_refusals(app: FastAPI, client: TestClient, make_account: MakeAccount) -> None:
    acme, other = make_account(), make_account()
    add_connection(app, acme.id, jit_provisioning=False)
    theirs = _existing(app, other.id, "member")
    disabled = _existing(app, acme.id, "member", status="disabled")
    cases = [(theirs, "email_in_use"), (email(), "not_provisioned"), (disabled, "user_disabled")]
    for address, reason in cases:
        spec = Spec(acme.id, name_id=address, in_response_to=start_login(client, acme.id))
        answer = post(client, acme.id, build(spec))
        assert answer.status_code == 403, (reason, answer.text)
        assert events(app, acme.id, "saml.login_failed")[-1]["reason"] == reason
    # The failed sign-ins left no user behind, and the audit says which address.
    assert events(app, acme.id, "saml.login_failed")[-2]["email"]


def test_no_email(app: FastAPI, client: TestClient, make_account: MakeAccount) -> None:
    by_name_id, by_attribute = make_account(), make_account()
    add_connection(app, by_name_id.id)
    spec = Spec(
        by_name_id.id, name_id="not-an-email", in_response_to=start_login(client, by_name_id.id)
    )
    refused(app, client, by_name_id.id, spec, "no_email")
    add_connection(app, by_attribute.id, attribute_email=None)  # custom preset: "email"
    spec = Spec(
        by_attribute.id, name_id=email(), in_response_to=start_login(client, by_attribute.id)
    )
    refused(app, client, by_attribute.id, spec, "no_email")
