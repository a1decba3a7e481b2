"""/portal/account/sso: the account's SAML connection through the portal, with the rules of
/api/v2/sso/saml (admins read, only an owner changes), CSRF, plain-words refusals, the SP's
addresses, "Test the connection", and a server without the [saml] extra."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import IdentityEvent, SamlConnection, UserSession
from tests.conftest import AccountFixture
from tests.portal.idp_metadata import ENTITY_ID, SSO_URL, idp_metadata
from tests.portal.support import PortalUser, portal_user
from tests.saml.idp import TestIdp, User, encode_post, xmlsec1_available

PAGE = "/portal/account/sso"


@pytest.fixture
def metadata_xml(tmp_path: Path) -> str:
    return idp_metadata(tmp_path)[0]


def form(metadata: str = "", **overrides: str) -> dict[str, str | list[str]]:
    fields: dict[str, str] = {
        "idp_metadata_xml": metadata,
        "preset": "okta",
        "jit_provisioning": "on",
        "default_role": "viewer",
        "group_roles": "Engineering = member\nQL Admins = admin",
        "enabled": "on",
        "clock_skew_seconds": "90",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v != "-"}


def stored(app: FastAPI, account_id: str) -> SamlConnection | None:
    with app.state.runtime.unit_of_work() as session:
        conn: SamlConnection | None = (
            session.query(SamlConnection).filter_by(account_id=account_id).one_or_none()
        )
        if conn is not None:
            session.expunge(conn)
        return conn


def configure(owner: PortalUser, metadata: str, **overrides: str) -> None:
    answer = owner.post(PAGE, form(metadata, **overrides))
    assert answer.status_code == 303, answer.text[:2000]
    assert answer.headers["location"] == PAGE + "?done=saved"


def test_owner_sets_up_sso_from_metadata_and_sees_the_sp_addresses(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    empty = owner.client.get(PAGE)
    assert empty.status_code == 200
    assert "No single sign-on yet." in empty.text and "paste the metadata XML" in empty.text
    acs = f"http://testserver/saml/{account.id}/acs"
    assert f'value="{acs}"' in empty.text and 'data-copy="sp-acs"' in empty.text
    assert f"/saml/{account.id}/metadata" in empty.text
    assert "Test the connection" not in empty.text

    configure(owner, metadata_xml)
    conn = stored(app, account.id)
    assert conn is not None
    assert (conn.idp_entity_id, conn.idp_sso_url, conn.preset) == (ENTITY_ID, SSO_URL, "okta")
    assert conn.group_roles == {"Engineering": "member", "QL Admins": "admin"}
    assert (conn.default_role, conn.clock_skew_seconds, conn.jit_provisioning) == (
        "viewer",
        90,
        True,
    )
    assert (conn.enabled, conn.sso_required, conn.allow_idp_initiated) == (True, False, False)

    page = owner.client.get(PAGE + "?done=saved")
    text = html.unescape(page.text)
    assert "The single sign-on connection was saved." in text
    assert ENTITY_ID in text and SSO_URL in text and "Okta" in text
    assert "QL Admins</code> → admin" in text
    assert f'value="{acs}"' in page.text and 'data-copy="sp-metadata"' in page.text
    # The SP metadata URL the page shows answers now.
    sp = owner.client.get(f"/saml/{account.id}/metadata")
    assert sp.status_code == 200 and acs in sp.text

    with app.state.runtime.unit_of_work() as session:
        event = (
            session.query(IdentityEvent)
            .filter_by(account_id=account.id, action="saml.config_create")
            .one()
        )
        assert event.actor_id == owner.user_id


def test_a_change_keeps_the_idp_when_no_metadata_is_given(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    configure(owner, metadata_xml)
    # Unticked boxes are off; blank metadata keeps the IdP.
    configure(owner, "", enabled="-", jit_provisioning="-", sso_required="on", group_roles="")
    conn = stored(app, account.id)
    assert conn is not None and conn.idp_entity_id == ENTITY_ID
    assert (conn.enabled, conn.jit_provisioning, conn.sso_required) == (False, False, True)
    assert conn.group_roles == {}
    page = owner.client.get(PAGE)
    assert "Disabled" in page.text and "Test the connection" not in page.text


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"idp_metadata_xml": "<not xml"}, "idp_metadata_xml"),
        (
            {"idp_metadata_xml": '<!DOCTYPE x [<!ENTITY a "b">]><x/>'},
            "idp_metadata_xml",
        ),
        ({"idp_metadata_xml": ""}, "paste your identity provider"),
        ({"group_roles": "Engineering member"}, "Group mappings, line 1"),
        ({"group_roles": "Boss = owner"}, "Group mappings, line 1"),
        ({"clock_skew_seconds": "ninety"}, "Clock skew"),
        ({"clock_skew_seconds": "999"}, "clock_skew_seconds"),
        ({"preset": "ping"}, "preset"),
    ],
)
def test_bad_input_is_a_400_in_plain_words_with_the_form_kept(
    app: FastAPI,
    client: TestClient,
    account: AccountFixture,
    metadata_xml: str,
    fields: dict[str, str],
    words: str,
) -> None:
    owner = portal_user(app, account, "owner")
    body = form(metadata_xml, group_roles="Keep Me = admin")
    body.update(fields)
    answer = owner.post(PAGE, body)
    assert answer.status_code == 400, answer.text[:1000]
    text = html.unescape(answer.text)
    assert 'role="alert"' in answer.text and words in text
    assert "Traceback" not in text
    if "group_roles" not in fields:
        assert "Keep Me = admin" in text  # the form is shown again as it was sent
    assert stored(app, account.id) is None


def test_admins_read_only_members_and_viewers_refused(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    configure(portal_user(app, account, "owner"), metadata_xml)
    admin = portal_user(app, account, "admin")
    page = admin.client.get(PAGE)
    assert page.status_code == 200 and ENTITY_ID in page.text
    assert 'action="/portal/account/sso"' not in page.text and "/sso/delete" not in page.text
    assert "Only an owner of the account can change single sign-on" in page.text
    for method, path in (("POST", PAGE), ("GET", PAGE + "/delete"), ("POST", PAGE + "/delete")):
        answer = (
            admin.post(path, form(metadata_xml, preset="custom"))
            if method == "POST"
            else admin.client.get(path)
        )
        assert answer.status_code == 403, (method, path)
        assert "Your role does not allow you to change the account" in answer.text
    conn = stored(app, account.id)
    assert conn is not None and conn.preset == "okta"
    for role in ("member", "viewer"):
        other = portal_user(app, account, role)
        refused = other.client.get(PAGE)
        assert refused.status_code == 403
        assert "Your role does not allow you to see the account" in refused.text
        assert other.post(PAGE, form(metadata_xml)).status_code == 403


def test_a_form_without_its_csrf_token_changes_nothing(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    answer = owner.client.post(PAGE, data=form(metadata_xml), follow_redirects=False)
    assert answer.status_code == 403 and "not sent from your current session" in answer.text
    assert stored(app, account.id) is None


def test_delete_asks_first_then_deletes(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    assert owner.client.get(PAGE + "/delete").status_code == 404  # nothing to delete
    configure(owner, metadata_xml)
    confirm = owner.client.get(PAGE + "/delete")
    assert confirm.status_code == 200 and ENTITY_ID in confirm.text
    assert stored(app, account.id) is not None  # asking deletes nothing
    done = owner.post(PAGE + "/delete")
    assert done.status_code == 303 and done.headers["location"] == PAGE + "?done=deleted"
    assert stored(app, account.id) is None
    page = owner.client.get(done.headers["location"])
    assert "was deleted" in page.text and "No single sign-on yet." in page.text
    assert owner.post(PAGE + "/delete").status_code == 404


def test_the_test_button_starts_a_sign_in_that_comes_back_here(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    configure(owner, metadata_xml)
    page = owner.client.get(PAGE)
    link = f"/saml/{account.id}/login?next=%2Fportal%2Faccount%2Fsso%3Ftested%3D1"
    assert f'href="{link}"' in page.text
    start = owner.client.get(link, follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(SSO_URL + "?")
    assert parse_qs(urlsplit(location).query)["RelayState"] == [PAGE + "?tested=1"]
    # Back here without the IdP's sign-in (a password session): the page says so.
    back = owner.client.get(PAGE + "?tested=1")
    assert "Test not completed" in back.text and "Test passed" not in back.text


def as_sso_session(app: FastAPI, user: PortalUser) -> None:
    """Make the user's portal session one that the IdP's sign-in started."""
    with app.state.runtime.unit_of_work() as session:
        for row in session.query(UserSession).filter_by(user_id=user.user_id):
            row.method = "sso"


def test_back_from_the_test_in_an_sso_session_the_page_says_it_passed(
    app: FastAPI, client: TestClient, account: AccountFixture, metadata_xml: str
) -> None:
    owner = portal_user(app, account, "owner")
    configure(owner, metadata_xml)
    as_sso_session(app, owner)
    page = owner.client.get(PAGE + "?tested=1")
    assert "Test passed" in page.text and owner.email in page.text
    # A user whose role may not see the page still learns the result, and nothing more.
    member = portal_user(app, account, "member")
    as_sso_session(app, member)
    result = member.client.get(PAGE + "?tested=1")
    assert result.status_code == 200 and "Test passed" in result.text
    assert member.email in result.text and ENTITY_ID not in result.text
    assert member.client.get(PAGE).status_code == 403


@pytest.mark.skipif(not xmlsec1_available(), reason="the pysaml2 test IdP signs with xmlsec1")
def test_the_test_sign_in_through_the_idp_shows_it_passed(
    app: FastAPI, client: TestClient, account: AccountFixture, tmp_path: Path
) -> None:
    metadata, keys = idp_metadata(tmp_path)
    owner = portal_user(app, account, "owner")
    configure(owner, metadata)
    idp = TestIdp(tmp_path / "idp", keys=keys)
    idp.trust_sp(owner.client.get(f"/saml/{account.id}/metadata").text)
    start = owner.client.get(
        f"/saml/{account.id}/login", params={"next": PAGE + "?tested=1"}, follow_redirects=False
    )
    seen = idp.read_authn_request(start.headers["location"])
    response = idp.answer(seen, User(email=owner.email))
    form_: dict[str, Any] = {"SAMLResponse": encode_post(response), "RelayState": seen.relay_state}
    back = owner.client.post(f"/saml/{account.id}/acs", data=form_, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == PAGE + "?tested=1"
    page = owner.client.get(back.headers["location"])
    assert "Test passed" in page.text and owner.email in page.text


def test_without_the_saml_extra_the_page_says_so(
    app: FastAPI, client: TestClient, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("quantumlock.portal.sso.saml_available", lambda: False)
    owner = portal_user(app, account, "owner")
    page = owner.client.get(PAGE)
    assert page.status_code == 200 and "quantumlock[saml]" in html.unescape(page.text)
    assert '<form method="post" action="/portal/account/sso"' not in page.text
    refused = owner.post(PAGE, form("<x/>"))
    assert refused.status_code == 503 and "not installed" in refused.text
