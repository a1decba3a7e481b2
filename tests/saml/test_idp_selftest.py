"""The test IdP itself, against python3-saml driven directly: before it judges QuantumLock's
SP, show that its good responses are good and that each forged one is forged in the way it
claims (so a refusal by the SP under test means what the test says)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser  # type: ignore[import-untyped,unused-ignore]
from saml2.response import IncorrectlySigned  # type: ignore[import-untyped,unused-ignore]

from tests.saml import idp as attacks
from tests.saml.idp import ResponseParams, TestIdp, User, make_key_pair
from tests.saml.onelogin_sp import OneLoginSp, onelogin_sp

ADA = User("ada@example.com", name="Ada Lovelace", groups=["engineering", "ql-admins"])


@pytest.fixture
def sp(idp: TestIdp) -> OneLoginSp:
    made = onelogin_sp(idp.metadata_xml())
    idp.trust_sp(made.signed_metadata())
    return made


def round_trip(
    idp: TestIdp, sp: OneLoginSp, **kw: object
) -> tuple[str, str, attacks.AuthnRequestSeen]:
    location, request_id = sp.login("/after")
    seen = idp.read_authn_request(location)
    return idp.answer(seen, ADA, **kw), request_id, seen  # type: ignore[arg-type]


def test_metadata_is_what_python3_saml_reads(idp: TestIdp) -> None:
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(idp.metadata_xml())["idp"]
    assert parsed["entityId"] == idp.entity_id
    assert parsed["singleSignOnService"]["url"] == idp.sso_url
    assert parsed["singleLogoutService"]["url"] == idp.slo_url
    assert parsed["x509cert"].replace("\n", "") == idp.keys.cert_b64


def test_authn_request_read_and_its_signature_checked(idp: TestIdp, sp: OneLoginSp) -> None:
    location, request_id = sp.login("/after")
    seen = idp.read_authn_request(location)
    assert seen.id == request_id and seen.signature_checked
    assert seen.issuer == sp.entity_id and seen.acs_url == sp.acs_url
    assert seen.destination == idp.sso_url and seen.relay_state == "/after"
    # The same query with another RelayState: the signature no longer matches.
    query = parse_qs(urlsplit(location).query)
    query["RelayState"] = ["/elsewhere"]
    forged = idp.sso_url + "?" + urlencode({k: v[0] for k, v in query.items()})
    with pytest.raises(IncorrectlySigned):
        idp.read_authn_request(forged)
    # Signed by a key the SP's metadata does not hold: refused too.
    other = onelogin_sp(idp.metadata_xml())
    with pytest.raises(IncorrectlySigned):
        idp.read_authn_request(other.login()[0])


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response"), [(True, False), (False, True), (True, True)]
)
def test_signed_response_accepted_by_python3_saml(
    idp: TestIdp, sp: OneLoginSp, sign_assertion: bool, sign_response: bool
) -> None:
    xml, request_id, _ = round_trip(
        idp, sp, sign_assertion=sign_assertion, sign_response=sign_response
    )
    auth = sp.acs(xml, request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_nameid() == ADA.email
    assert auth.get_attributes() == {
        "email": [ADA.email],
        "name": ["Ada Lovelace"],
        "groups": ["engineering", "ql-admins"],
    }
    assert auth.get_session_index()


def test_preset_attribute_names(idp: TestIdp, sp: OneLoginSp) -> None:
    names = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
             "http://schemas.microsoft.com/identity/claims/displayname",
             "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups")  # fmt: skip
    params = ResponseParams(ADA, sp.entity_id, sp.acs_url, None, attribute_names=names)
    sp.settings["security"]["allowUnsolicited"] = True
    auth = sp.acs(idp.response(params), None)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert set(auth.get_attributes()) == set(names)


def refused(sp: OneLoginSp, xml: str, request_id: str | None) -> str:
    auth = sp.acs(xml, request_id)
    assert auth.get_errors(), "python3-saml accepted it"
    assert auth.get_nameid() is None
    return str(auth.get_last_error_reason())


def test_unsigned_tampered_and_unknown_key_refused(
    idp: TestIdp, sp: OneLoginSp, tmp_path: Path
) -> None:
    xml, request_id, seen = round_trip(idp, sp)
    assert "No Signature found" in refused(
        sp, idp.answer(seen, ADA, sign_assertion=False), request_id
    )
    assert "No Signature found" in refused(sp, attacks.unsigned(xml), request_id)
    assert "Signature validation failed" in refused(
        sp, attacks.tampered(xml, "eve@example.com"), request_id
    )
    stranger = make_key_pair(tmp_path / "stranger")
    foreign = idp.answer(seen, ADA, keys=stranger)
    assert "Signature validation failed" in refused(sp, foreign, request_id)
    # and the genuine one still passes: the refusals are about the forgery
    assert sp.acs(xml, request_id).get_errors() == []


@pytest.mark.parametrize("name", sorted(attacks.WRAPPING_ON_ASSERTION))
def test_wrapping_on_signed_assertion_refused(idp: TestIdp, sp: OneLoginSp, name: str) -> None:
    xml, request_id, _ = round_trip(idp, sp)
    forged = attacks.WRAPPING_ON_ASSERTION[name](xml, "eve@example.com")
    assert "eve@example.com" in forged and ADA.email in forged
    refused(sp, forged, request_id)


@pytest.mark.parametrize("name", sorted(attacks.WRAPPING_ON_RESPONSE))
def test_wrapping_on_signed_response_refused(idp: TestIdp, sp: OneLoginSp, name: str) -> None:
    xml, request_id, _ = round_trip(idp, sp, sign_assertion=False, sign_response=True)
    forged = attacks.WRAPPING_ON_RESPONSE[name](xml, "eve@example.com")
    assert "eve@example.com" in forged and ADA.email in forged
    refused(sp, forged, request_id)


def test_comment_injection_read_whole_by_python3_saml(idp: TestIdp, sp: OneLoginSp) -> None:
    """The signature stays valid (that is the attack); python3-saml reads the whole text."""
    location, request_id = sp.login()
    seen = idp.read_authn_request(location)
    owned = User("victim@example.com.evil.test")
    xml = attacks.comment_injected(idp.answer(seen, owned), owned.email, "victim@example.com")
    auth = sp.acs(xml, request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_nameid() == "victim@example.com.evil.test"
    assert auth.get_attributes()["email"] == ["victim@example.com.evil.test"]


def test_times_audience_recipient_destination_refused(idp: TestIdp, sp: OneLoginSp) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    cases = {
        "expired": dict(not_on_or_after=past, subject_not_on_or_after=past),
        "not_yet_valid": dict(not_before=future, issue_instant=future - timedelta(seconds=30)),
        "audience": dict(audience="https://other-sp.example/metadata"),
        "recipient": dict(recipient="https://other-sp.example/acs"),
        "destination": dict(destination="https://other-sp.example/acs"),
        "issuer": dict(issuer="https://evil-idp.example/metadata"),
    }
    reasons = {}
    for case, overrides in cases.items():
        location, request_id = sp.login()
        seen = idp.read_authn_request(location)
        params = ResponseParams(ADA, seen.issuer, sp.acs_url, seen.id, **overrides)  # type: ignore[arg-type]
        reasons[case] = refused(sp, idp.response(params), request_id)
    assert "expired" in reasons["expired"].lower() or "no longer valid" in reasons["expired"]
    assert "Audience" in reasons["audience"] or "audience" in reasons["audience"]
    # python3-saml says only that no SubjectConfirmation fits (the SP under test must name it)
    assert "SubjectConfirmation" in reasons["recipient"]
    assert "received at" in reasons["destination"]  # the Response Destination
    assert "issuer" in reasons["issuer"].lower()


def test_logout_request_signed_and_read_by_python3_saml(idp: TestIdp, sp: OneLoginSp) -> None:
    url = idp.logout_request_url(sp.slo_url, ADA.email, "_session1", relay_state="/bye")
    auth = sp.slo(url)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    stranger = make_key_pair(Path(idp.directory) / "stranger")
    forged = idp.logout_request_url(sp.slo_url, ADA.email, "_session1", keys=stranger)
    assert sp.slo(forged).get_errors()
