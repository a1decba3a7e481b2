"""Small rules of the protocol part: group → role ranking, the replay key, conditional
spending of a request and of an assertion ID, reason mapping of python3-saml's codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError  # type: ignore[import-untyped]

from quantumlock.identity.models import SamlAssertionId, SamlRequest
from quantumlock.identity.saml.protocol import reason_of
from quantumlock.identity.saml.repository_protocol import SamlProtocolRepository
from quantumlock.identity.saml.service_login import assertion_key, best_role
from tests.conftest import AccountFixture

V = OneLogin_Saml2_ValidationError


def test_best_role_is_the_highest_and_never_owner() -> None:
    roles = {"a": "viewer", "b": "admin", "c": "member", "root": "owner", "bad": "wizard"}
    assert best_role(["a", "c"], roles) == "member"
    assert best_role(["c", "b", "a"], roles) == "admin"
    assert best_role(["root"], roles) is None
    assert best_role(["bad", "zzz"], roles) is None
    assert best_role([], roles) is None


def test_assertion_key_separates_accounts() -> None:
    assert assertion_key("acc_a", "_x") != assertion_key("acc_b", "_x")
    assert assertion_key("acc_a", "b\x1fc") != assertion_key("acc_ab", "c")
    assert len(assertion_key("acc_a", "_x")) == 64


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (V.NO_SIGNATURE_FOUND, "unsigned"),
        (V.INVALID_SIGNATURE, "invalid_signature"),
        (V.INVALID_SIGNED_ELEMENT, "invalid_signature"),
        (V.DEPRECATED_SIGNATURE_METHOD, "invalid_signature"),
        (V.WRONG_AUDIENCE, "wrong_audience"),
        (V.WRONG_ISSUER, "wrong_issuer"),
        (V.WRONG_DESTINATION, "wrong_destination"),
        (V.WRONG_INRESPONSETO, "unknown_request"),
        (V.ASSERTION_EXPIRED, "expired"),
        (V.ASSERTION_TOO_EARLY, "not_yet_valid"),
        (V.MISSING_CONDITIONS, "malformed"),
    ],
)
def test_reason_of_python3_saml_codes(code: int, reason: str) -> None:
    assert reason_of(V("x", code)) == reason
    assert reason_of(ValueError("x")) == "malformed"


def test_a_request_and_an_assertion_are_spent_once(app: FastAPI, account: AccountFixture) -> None:
    runtime = app.state.runtime
    now = datetime.now(UTC)
    with runtime.unit_of_work() as session:
        repo = SamlProtocolRepository(session)
        repo.add_request(
            SamlRequest(
                id="_req1",
                account_id=account.id,
                relay_state="/",
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )
    with runtime.unit_of_work() as session:
        repo = SamlProtocolRepository(session)
        assert not repo.spend_request("acc_other", "_req1", now)  # another account's
        assert repo.live_request(account.id, "_req1", now + timedelta(minutes=11)) is None
        assert not repo.spend_request(account.id, "_req1", now + timedelta(minutes=11))
        assert repo.spend_request(account.id, "_req1", now)
        assert not repo.spend_request(account.id, "_req1", now)
    row = {"key": assertion_key(account.id, "_a1"), "account_id": account.id}
    with runtime.unit_of_work() as session:
        repo = SamlProtocolRepository(session)
        fresh = SamlAssertionId(**row, created_at=now, expires_at=now + timedelta(minutes=5))
        assert repo.consume_assertion(fresh)
    with runtime.unit_of_work() as session:
        repo = SamlProtocolRepository(session)
        again = SamlAssertionId(**row, created_at=now, expires_at=now + timedelta(minutes=5))
        assert not repo.consume_assertion(again)
        # The transaction is still usable after the conflict; expired keys are purged.
        repo.purge_assertions(now + timedelta(minutes=6))
    with runtime.unit_of_work() as session:
        assert session.get(SamlAssertionId, row["key"]) is None
