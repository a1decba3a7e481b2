"""The ACS against forged and faulty responses from the pysaml2 IdP, in-process: each
refusal is an HTML page (no session cookie) and a `saml.login_failed` audit entry with the
contract's reason code; the genuine responses next to them are accepted, so each refusal is
about the one thing the forgery changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.saml import idp as attacks
from tests.saml.idp import KeyPair, User
from tests.saml.support import ADMIN_GROUP, SamlFlow, session_cookie, signed_in, unique_email

EVIL = "eve@evil.test"


def new_user(groups: list[str] | None = None) -> User:
    return User(unique_email(), name="Ada Lovelace", groups=groups or [])


# A word of each reason's page (the user must be able to tell what went wrong).
PAGE_WORDS = {
    "unsigned": "not signed",
    "invalid_signature": "signature",
    "expired": "expired",
    "not_yet_valid": "not valid yet",
    "replay": "already used",
    "wrong_audience": "another",
    "wrong_recipient": "another",
    "wrong_destination": "another",
    "wrong_issuer": "another identity provider",
    "idp_initiated_not_allowed": "started here",
    "unknown_request": "start again",
}


def assert_refused(flow: SamlFlow, answer: httpx.Response, reasons: set[str]) -> str:
    """An HTML page, no session, and the newest saml.login_failed names one of `reasons`."""
    assert answer.status_code in (400, 403), (answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text.lower() and "single sign-on" in answer.text.lower()
    assert session_cookie(answer) is None
    assert not signed_in(flow.http)
    got = flow.failure_reasons()
    assert got, "no saml.login_failed audit entry"
    assert got[0] in reasons, f"reason {got[0]!r}, expected one of {sorted(reasons)}"
    words = PAGE_WORDS.get(got[0])
    if words:  # the page says why in plain words, not just "failed"
        assert words in answer.text.lower(), (got[0], answer.text[-600:])
    return got[0]


def assert_accepted(flow: SamlFlow, answer: httpx.Response, user: User) -> dict[str, Any]:
    assert answer.status_code == 303, (
        answer.status_code,
        answer.text[:800],
        flow.failure_reasons(),
    )
    assert session_cookie(answer)
    assert signed_in(flow.http)
    made = flow.user(user.email)
    assert made is not None
    return made


def _at(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response"), [(True, False), (False, True), (True, True)]
)
def test_signed_assertion_or_response_accepted(
    flow: SamlFlow, sign_assertion: bool, sign_response: bool
) -> None:
    user = new_user([ADMIN_GROUP])
    seen = flow.begin("/after/sign-in?x=1")
    xml = flow.idp.answer(seen, user, sign_assertion=sign_assertion, sign_response=sign_response)
    answer = flow.post(xml, relay_state=seen.relay_state)
    made = assert_accepted(flow, answer, user)
    assert answer.headers["location"] == "/after/sign-in?x=1"
    assert made["role"] == "admin"
    assert flow.failure_reasons() == []


def test_jit_default_role_and_audit(flow: SamlFlow) -> None:
    user = new_user(["unmapped-group"])
    _, xml = flow.good_response(user)
    made = assert_accepted(flow, flow.post(xml), user)
    assert made["role"] == "viewer"  # default_role: no group matched
    created = [e for e in flow.events("user.create") if e["object_id"] == made["id"]]
    assert created and created[0]["detail"]["via"] == "saml"
    logins = flow.events("saml.login")
    assert logins and logins[0]["detail"]["name_id"] == user.email


def test_conditions_expired_within_the_clock_skew_accepted(flow: SamlFlow) -> None:
    user = new_user()
    seen = flow.begin()
    # skew is 60 s; the bearer confirmation still valid
    params = flow.params(seen, user, not_on_or_after=_at(-20), subject_not_on_or_after=_at(300))
    assert_accepted(flow, flow.post(flow.idp.response(params)), user)


def test_not_before_within_the_clock_skew_accepted(flow: SamlFlow) -> None:
    user = new_user()
    seen = flow.begin()
    params = flow.params(seen, user, not_before=_at(30), issue_instant=_at(25))
    assert_accepted(flow, flow.post(flow.idp.response(params)), user)


def test_subject_confirmation_expired_within_the_clock_skew_accepted(flow: SamlFlow) -> None:
    """The contract: SubjectConfirmationData NotOnOrAfter is checked with the connection's
    skew too (python3-saml alone allows no drift there)."""
    user = new_user()
    seen = flow.begin()
    past = _at(-20)  # skew is 60 s
    params = flow.params(seen, user, not_on_or_after=past, subject_not_on_or_after=past)
    assert_accepted(flow, flow.post(flow.idp.response(params)), user)


# -- refused: signatures ---------------------------------------------------------------------


def test_unsigned_refused(flow: SamlFlow) -> None:
    user = new_user([ADMIN_GROUP])
    seen = flow.begin()
    xml = flow.idp.answer(seen, user, sign_assertion=False, sign_response=False)
    assert_refused(flow, flow.post(xml), {"unsigned"})
    assert flow.user(user.email) is None


def test_signatures_stripped_refused(flow: SamlFlow) -> None:
    _, xml = flow.good_response(new_user(), sign_response=True)
    assert_refused(flow, flow.post(attacks.unsigned(xml)), {"unsigned"})


@pytest.mark.parametrize("signed", ["assertion", "response", "both"])
def test_tampered_refused(flow: SamlFlow, signed: str) -> None:
    user = new_user()
    _, xml = flow.good_response(
        user, sign_assertion=signed != "response", sign_response=signed != "assertion"
    )
    assert_refused(flow, flow.post(attacks.tampered(xml, EVIL)), {"invalid_signature"})
    assert flow.user(EVIL) is None and flow.user(user.email) is None


def test_unknown_idp_certificate_refused(flow: SamlFlow, stranger_keys: KeyPair) -> None:
    seen = flow.begin()
    xml = flow.idp.answer(seen, new_user([ADMIN_GROUP]), keys=stranger_keys, sign_response=True)
    assert_refused(flow, flow.post(xml), {"invalid_signature"})


# Signature wrapping: the contract names no code of its own; a signature problem, or a
# message that cannot be read as one response with one assertion.
WRAPPING_REASONS = {"malformed", "invalid_signature"}


@pytest.mark.parametrize("variant", sorted(attacks.WRAPPING_ON_ASSERTION))
def test_signature_wrapping_on_assertion_refused(flow: SamlFlow, variant: str) -> None:
    victim = flow.create_user(unique_email("victim"), "viewer")
    _, xml = flow.good_response(new_user())
    forged = attacks.WRAPPING_ON_ASSERTION[variant](xml, victim["email"])
    assert_refused(flow, flow.post(forged), WRAPPING_REASONS)
    assert flow.sessions_of(victim["id"]) == []


@pytest.mark.parametrize("variant", sorted(attacks.WRAPPING_ON_RESPONSE))
def test_signature_wrapping_on_response_refused(flow: SamlFlow, variant: str) -> None:
    victim = flow.create_user(unique_email("victim"), "viewer")
    _, xml = flow.good_response(new_user(), sign_assertion=False, sign_response=True)
    forged = attacks.WRAPPING_ON_RESPONSE[variant](xml, victim["email"])
    assert_refused(flow, flow.post(forged), WRAPPING_REASONS)
    assert flow.sessions_of(victim["id"]) == []


def test_comment_injection_never_signs_in_the_victim(flow: SamlFlow) -> None:
    """The IdP vouched for `victim@…evil.test` (the attacker's); the comment must not make
    it `victim@…` (an existing user). Refused, or read whole: never the victim."""
    victim_email = unique_email("victim")
    victim = flow.create_user(victim_email, "admin")
    owned = User(victim_email + ".evil.test", groups=[])
    seen = flow.begin()
    xml = attacks.comment_injected(flow.idp.answer(seen, owned), owned.email, victim_email)
    answer = flow.post(xml)
    assert flow.sessions_of(victim["id"]) == []
    if answer.status_code == 303:  # read safely: the attacker's own address, a new user
        attacker = flow.user(owned.email)
        assert attacker is not None and attacker["id"] != victim["id"]
        assert flow.sessions_of(attacker["id"])
    else:
        assert_refused(flow, answer, {"malformed", "invalid_signature"})


# -- refused: conditions ---------------------------------------------------------------------


# name -> (ResponseParams overrides, reason). Times beyond the connection's 60 s skew but
# inside python3-saml's own 300 s drift too: the SP's own check must catch those.
CONDITIONS: dict[str, tuple[Callable[[SamlFlow], dict[str, Any]], str]] = {
    "expired_long_ago": (
        lambda f: {"not_on_or_after": _at(-3600), "subject_not_on_or_after": _at(-3600),
                   "not_before": _at(-3700), "issue_instant": _at(-3700)},
        "expired",
    ),
    "expired_beyond_skew": (
        lambda f: {"not_on_or_after": _at(-150), "subject_not_on_or_after": _at(-150)},
        "expired",
    ),
    "not_yet_valid_far": (
        lambda f: {"not_before": _at(3600), "issue_instant": _at(3590)},
        "not_yet_valid",
    ),
    "not_yet_valid_beyond_skew": (
        lambda f: {"not_before": _at(150)},
        "not_yet_valid",
    ),
    "wrong_audience": (
        lambda f: {"audience": "https://other-sp.example/saml/metadata"},
        "wrong_audience",
    ),
    "audience_of_another_account": (
        lambda f: {"audience": f.sp_entity_id.replace(f.account_id, "acct_other")},
        "wrong_audience",
    ),
    "wrong_recipient": (
        lambda f: {"recipient": "https://other-sp.example/saml/acs"},
        "wrong_recipient",
    ),
    "wrong_destination": (
        lambda f: {"destination": "https://other-sp.example/saml/acs"},
        "wrong_destination",
    ),
    # python3-saml alone accepts a Recipient containing the ACS URL, a Destination starting
    # with it: the SP must compare exactly.
    "recipient_containing_the_acs": (
        lambda f: {"recipient": "https://evil.example/?next=" + f.acs_url},
        "wrong_recipient",
    ),
    "destination_extending_the_acs": (
        lambda f: {"destination": f.acs_url + ".evil.example/acs"},
        "wrong_destination",
    ),
    "wrong_issuer": (
        lambda f: {"issuer": "https://evil-idp.example/metadata"},
        "wrong_issuer",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CONDITIONS))
@pytest.mark.parametrize("signed", ["assertion", "response"])
def test_conditions_refused(flow: SamlFlow, case: str, signed: str) -> None:
    overrides, reason = CONDITIONS[case]
    user = new_user([ADMIN_GROUP])
    seen = flow.begin()
    params = flow.params(seen, user, **overrides(flow))
    xml = flow.idp.response(
        params, sign_assertion=signed == "assertion", sign_response=signed == "response"
    )
    assert_refused(flow, flow.post(xml), {reason})
    assert flow.user(user.email) is None


def test_unknown_in_response_to_refused(flow: SamlFlow) -> None:
    flow.begin()
    params = replace(flow.params(None, new_user()), in_response_to="ONELOGIN_" + "0" * 40)
    assert_refused(flow, flow.post(flow.idp.response(params)), {"unknown_request"})


# -- replay ----------------------------------------------------------------------------------


def test_replay_of_idp_initiated_response_refused(flow: SamlFlow) -> None:
    flow.update(allow_idp_initiated=True)
    user = new_user()
    xml = flow.idp.response(flow.params(None, user))
    assert_accepted(flow, flow.post(xml), user)
    flow.http.cookies.clear()
    assert_refused(flow, flow.post(xml), {"replay"})


def test_replay_of_sp_initiated_response_refused(flow: SamlFlow) -> None:
    """The contract: a used response is a replay (its assertion id is known), not merely an
    answer to a spent request."""
    user = new_user()
    _, xml = flow.good_response(user)
    assert_accepted(flow, flow.post(xml), user)
    flow.http.cookies.clear()
    assert_refused(flow, flow.post(xml), {"replay"})


# -- IdP-initiated ---------------------------------------------------------------------------


def test_idp_initiated_refused_unless_allowed(flow: SamlFlow) -> None:
    user = new_user()
    xml = flow.idp.response(flow.params(None, user))
    assert_refused(flow, flow.post(xml, relay_state="/x"), {"idp_initiated_not_allowed"})
    assert flow.user(user.email) is None
    flow.update(allow_idp_initiated=True)
    fresh = flow.idp.response(flow.params(None, user))
    answer = flow.post(fresh, relay_state="https://evil.example/steal")
    assert_accepted(flow, answer, user)
    assert answer.headers["location"] == "/"  # RelayState from the POST: local paths only


def test_unknown_in_response_to_refused_even_when_idp_initiated_is_allowed(
    flow: SamlFlow,
) -> None:
    """An InResponseTo that names no request is not an unsolicited response."""
    flow.update(allow_idp_initiated=True)
    params = replace(flow.params(None, new_user()), in_response_to="ONELOGIN_" + "1" * 40)
    assert_refused(flow, flow.post(flow.idp.response(params)), {"unknown_request"})


def test_idp_error_status_refused(flow: SamlFlow) -> None:
    seen = flow.begin()

    def responder(xml: str) -> str:
        return xml.replace("urn:oasis:names:tc:SAML:2.0:status:Success",
                           "urn:oasis:names:tc:SAML:2.0:status:Responder")  # fmt: skip

    xml = flow.idp.response(flow.params(seen, new_user()), sign_response=True,
                            before_signing=responder)  # fmt: skip
    assert "status:Responder" in xml
    assert_refused(flow, flow.post(xml), {"malformed"})
