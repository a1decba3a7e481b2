"""One actor type for every service: the API builds it from the key, the CLI as operator."""

from __future__ import annotations

from quantumlock.accounts.plans import effective_limits
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import ALL_SCOPES
from quantumlock.core.actor import OPERATOR_KEY_ID, Actor, ActorKind


def _principal(mode: Mode) -> Principal:
    return Principal(
        key_id="key_abc",
        account_id="cust_1",
        key_type=KeyType.TEST if mode is Mode.TEST else KeyType.LIVE,
        mode=mode,
        granted_scopes=ALL_SCOPES,
        scopes=ALL_SCOPES,
        expires_at=None,
        revoked_at=None,
        limits=effective_limits(
            "free",
            requests_per_minute=None,
            burst=None,
            licenses_per_month=None,
            licenses_unlimited=False,
        ),
    )


def test_a_principal_acts_as_its_key() -> None:
    live = _principal(Mode.LIVE).actor
    assert live == Actor("cust_1", "live", "key_abc", ActorKind.API_KEY)
    assert type(live.mode) is str and not live.is_test  # plain values: stored as they are
    assert _principal(Mode.TEST).actor.is_test


def test_the_cli_acts_as_the_operator() -> None:
    op = Actor.operator("cust_1")
    assert (op.account_id, op.mode, op.key_id, op.kind) == (
        "cust_1",
        "live",
        OPERATOR_KEY_ID,
        ActorKind.OPERATOR,
    )
    assert OPERATOR_KEY_ID == "cli"  # what audit entries made from the CLI have always named
    assert Actor.operator("cust_1", test=True).is_test
