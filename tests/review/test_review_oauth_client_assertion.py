"""Review of #19: private_key_jwt assertions with an absurd `exp` are refused as
invalid_client (one was a 500), and a long-lived assertion is not a reusable credential."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from tests.conftest import AccountFixture
from tests.oauth.support import Registered, make_client
from tests.oauth.test_token_errors import _pkj, assertion, oauth_error

AUD = "http://testserver/oauth/token"


@pytest.fixture
def jwt_client(app: FastAPI, account: AccountFixture) -> tuple[Registered, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-1"})
    rp = make_client(
        app, account.id, grant_types=["client_credentials"], scopes=["account:read"],
        auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]},
    )  # fmt: skip
    return rp, key


@pytest.mark.parametrize("exp", [10**20, 2**63, 10**11])
def test_an_assertion_expiring_far_in_the_future_is_invalid_client(
    client: TestClient, jwt_client: tuple[Registered, ECKey], exp: int
) -> None:
    rp, key = jwt_client
    # 10**20 and 2**63 overflowed datetime (500); 10**11 (year 5138) was accepted, and its
    # jti kept "until exp": a signed assertion that works for millennia.
    oauth_error(_pkj(client, assertion(rp.id, key, AUD, exp=exp)), 401, "invalid_client")


def test_a_short_lived_assertion_still_works(
    client: TestClient, jwt_client: tuple[Registered, ECKey]
) -> None:
    rp, key = jwt_client
    r = _pkj(client, assertion(rp.id, key, AUD, exp=int(time.time()) + 300))
    assert r.status_code == 200, r.text
