"""Who the ACS signs in, in-process: certificate roll-over, tenant isolation of requests,
an email of another account, JIT off, disabled users and connections, owners untouched by
group mapping, a preset's attribute names, and the SP-started single logout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import MakeAccount
from tests.saml.idp import RSA_SHA1, SHA1, KeyPair, TestIdp, User
from tests.saml.support import (
    ADMIN_GROUP,
    SamlFlow,
    session_cookie,
    signed_in,
    unique_email,
)
from tests.saml.test_saml_acs import assert_accepted, assert_refused


def test_certificate_roll_over_accepts_both_then_only_the_new(
    flow: SamlFlow, stranger_keys: KeyPair
) -> None:
    old = flow.idp.keys.cert_pem
    flow.update(idp_certificates=[old, stranger_keys.cert_pem])
    for keys in (flow.idp.keys, stranger_keys):
        user = User(unique_email())
        seen = flow.begin()
        assert_accepted(flow, flow.post(flow.idp.answer(seen, user, keys=keys)), user)
        flow.http.cookies.clear()
    flow.update(idp_certificates=[stranger_keys.cert_pem])  # the old one retired
    seen = flow.begin()
    xml = flow.idp.answer(seen, User(unique_email()))
    assert_refused(flow, flow.post(xml), {"invalid_signature"})


def test_a_request_of_another_account_is_unknown(
    client: TestClient, flow: SamlFlow, make_account: MakeAccount, tmp_path: Path
) -> None:
    other_account = make_account(name="Other Corp")
    other = SamlFlow(client, TestIdp(tmp_path / "idp2", keys=flow.idp.keys),
                     other_account.id, other_account.admin_key)  # fmt: skip
    other.configure()
    theirs = other.begin()  # a request the OTHER account started
    user = User(unique_email())
    # Everything right for this account except the request it answers.
    params = replace(flow.params(None, user), in_response_to=theirs.id)
    assert_refused(flow, flow.post(flow.idp.response(params)), {"unknown_request"})
    assert flow.user(user.email) is None


def test_email_of_another_accounts_user_refused(
    flow: SamlFlow, make_account: MakeAccount, client: TestClient
) -> None:
    other = make_account(name="Other Corp")
    email = unique_email("taken")
    made = client.post("/api/v2/users", json={"email": email, "role": "admin"},
                       headers=other.headers)  # fmt: skip
    assert made.status_code == 201, made.text
    seen = flow.begin()
    answer = flow.post(flow.idp.answer(seen, User(email, groups=[ADMIN_GROUP])))
    assert_refused(flow, answer, {"email_in_use"})
    assert answer.status_code == 403


def test_no_jit_refuses_unknown_users_and_signs_in_known_ones(flow: SamlFlow) -> None:
    flow.update(jit_provisioning=False)
    stranger = User(unique_email())
    seen = flow.begin()
    assert_refused(flow, flow.post(flow.idp.answer(seen, stranger)), {"not_provisioned"})
    assert flow.user(stranger.email) is None
    known = flow.create_user(unique_email("known"), "member")
    seen = flow.begin()
    assert_accepted(
        flow, flow.post(flow.idp.answer(seen, User(known["email"]))), User(known["email"])
    )


def test_disabled_user_and_disabled_connection_refused(flow: SamlFlow) -> None:
    user = flow.create_user(unique_email("off"), "member")
    disabled = flow.http.post(f"/api/v2/users/{user['id']}/disable", headers=flow.headers)
    assert disabled.status_code == 200, disabled.text
    seen = flow.begin()
    assert_refused(flow, flow.post(flow.idp.answer(seen, User(user["email"]))), {"user_disabled"})
    seen = flow.begin()
    xml = flow.idp.answer(seen, User(unique_email()))
    flow.update(enabled=False)
    assert_refused(flow, flow.post(xml), {"connection_disabled"})


def test_group_mapping_updates_roles_but_never_touches_an_owner(flow: SamlFlow) -> None:
    viewer = flow.create_user(unique_email("viewer"), "viewer")
    owner = flow.create_user(unique_email("owner"), "owner")
    for made in (viewer, owner):
        flow.http.cookies.clear()
        seen = flow.begin()
        user = User(made["email"], groups=[ADMIN_GROUP])
        assert_accepted(flow, flow.post(flow.idp.answer(seen, user)), user)
    after = {u["id"]: u["role"] for u in flow.users()}
    assert after[viewer["id"]] == "admin"
    assert after[owner["id"]] == "owner"
    updates = [e for e in flow.events("user.update") if e["object_id"] == viewer["id"]]
    assert updates and updates[0]["detail"] == {
        "via": "saml", "role": {"from": "viewer", "to": "admin"}
    }  # fmt: skip
    assert not [e for e in flow.events("user.update") if e["object_id"] == owner["id"]]


def test_azure_ad_preset_reads_its_claim_names(flow: SamlFlow) -> None:
    flow.update(preset="azure_ad")
    names = (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    )
    user = User(unique_email("entra"), name="Entra User", groups=[ADMIN_GROUP],
                name_id="00000000-aaaa-bbbb-cccc-000000000001")  # fmt: skip
    seen = flow.begin()
    params = replace(flow.params(seen, user), attribute_names=names)
    made = assert_accepted(flow, flow.post(flow.idp.response(params)), user)
    assert made["role"] == "admin" and made["name"] == "Entra User"


def test_no_email_refused(flow: SamlFlow) -> None:
    user = User("not-an-email-subject", groups=[])
    seen = flow.begin()
    params = replace(flow.params(seen, user), email_attribute=False)
    assert_refused(flow, flow.post(flow.idp.response(params)), {"no_email"})


def test_sp_started_logout_ends_the_session_and_tells_the_idp(flow: SamlFlow) -> None:
    user = User(unique_email())
    seen = flow.begin()
    answer = flow.post(flow.idp.answer(seen, user, session_index="_sp-logout-1"))
    assert session_cookie(answer) and signed_in(flow.http)
    flow.http.get("/login/sso")  # any of our forms: the CSRF cookie
    csrf = flow.http.cookies.get("ql_csrf")
    assert csrf
    done = flow.http.post(flow.base + "/logout", data={"csrf_token": csrf},
                          follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    location = done.headers["location"]
    assert location.startswith(flow.idp.slo_url + "?")
    name_id, indexes, _ = flow.idp.read_logout_request(location)  # signature checked
    assert name_id == user.email and indexes == ["_sp-logout-1"]
    assert not signed_in(flow.http)
    made = flow.user(user.email)
    assert made is not None and flow.sessions_of(made["id"]) == []


def test_relay_state_is_the_stored_local_path(flow: SamlFlow) -> None:
    """SP-initiated: the POSTed RelayState is ignored (the stored one wins); a `next` off
    the site becomes "/"."""
    user = User(unique_email())
    seen = flow.begin("/stored/path")
    answer = flow.post(flow.idp.answer(seen, user), relay_state="https://evil.example/x")
    assert_accepted(flow, answer, user)
    assert answer.headers["location"] == "/stored/path"
    flow.http.cookies.clear()
    assert flow.begin("https://evil.example/x").relay_state == "/"
    assert flow.begin("//evil.example/x").relay_state == "/"


def test_response_for_one_account_refused_by_another_on_the_same_idp(
    client: TestClient, flow: SamlFlow, make_account: MakeAccount, tmp_path: Path
) -> None:
    """Two accounts trusting one IdP (one Okta tenant): what the IdP said to one is no key
    to the other."""
    other_account = make_account(name="Other Corp")
    other = SamlFlow(client, TestIdp(tmp_path / "idp2", keys=flow.idp.keys),
                     other_account.id, other_account.admin_key)  # fmt: skip
    other.configure(allow_idp_initiated=True)
    user = User(unique_email(), groups=[ADMIN_GROUP])
    seen = flow.begin()
    for_flow = flow.idp.answer(seen, user)
    reasons = {"wrong_audience", "wrong_destination", "wrong_recipient", "unknown_request"}
    assert_refused(other, other.post(for_flow), reasons)
    unsolicited = flow.idp.response(flow.params(None, user))  # IdP-initiated, for `flow`
    assert_refused(other, other.post(unsolicited), reasons - {"unknown_request"})
    assert other.user(user.email) is None and flow.user(user.email) is None


def test_email_case_and_spaces_match_the_existing_user(flow: SamlFlow) -> None:
    made = flow.create_user(unique_email("mixed"), "member")
    shouted = made["email"].upper()
    seen = flow.begin()
    answer = flow.post(flow.idp.answer(seen, User(shouted, name_id=shouted)))
    assert answer.status_code == 303, (answer.text[:300], flow.failure_reasons())
    assert [u["id"] for u in flow.users() if u["email"] == made["email"]] == [made["id"]]
    assert flow.sessions_of(made["id"])


def test_sha1_signatures_refused(flow: SamlFlow) -> None:
    seen = flow.begin()
    xml = flow.idp.answer(seen, User(unique_email()), sign_alg=RSA_SHA1, digest_alg=SHA1)
    assert "rsa-sha1" in xml
    assert_refused(flow, flow.post(xml), {"invalid_signature"})


def test_doctype_and_entities_refused_unread(flow: SamlFlow) -> None:
    seen = flow.begin()
    xml = flow.idp.answer(seen, User(unique_email()))
    bomb = '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    assert_refused(flow, flow.post(bomb + xml), {"malformed"})
    external = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    assert_refused(flow, flow.post(external + xml.replace("Ada Lovelace", "&x;")), {"malformed"})
