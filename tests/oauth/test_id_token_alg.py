"""A client's `id_token_signed_response_alg` picks the key of its ID tokens (RS256 for RPs
that verify only RS256); access tokens stay ES256 whatever the client registered."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from quantumlock.identity.tokens import decode_access_token
from tests.conftest import AccountFixture
from tests.oauth.flow import get_code, pkce
from tests.oauth.support import make_client, make_user
from tests.oauth.test_code_flow import exchange, refresh


@pytest.mark.parametrize(("registered", "alg", "kty"), [(None, "ES256", "EC"),
                                                        ("RS256", "RS256", "RSA")])  # fmt: skip
def test_id_token_is_signed_with_the_clients_algorithm(
    client: TestClient,
    app: FastAPI,
    account: AccountFixture,
    registered: str | None,
    alg: str,
    kty: str,
) -> None:
    rp = make_client(app, account.id, id_token_alg=registered)
    _, email, password = make_user(app, account.id)
    verifier, challenge = pkce()
    got = get_code(client, rp, email, password, challenge)
    r = exchange(client, rp, got["code"], verifier)
    assert r.status_code == 200, r.text
    tokens = r.json()

    jwks = client.get("/oauth/jwks").json()
    keys = KeySet.import_key_set(jwks)
    # Only the registered algorithm is accepted: an RP that knows RS256 alone verifies it.
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=[alg])
    assert id_token.header["alg"] == alg
    by_kid = {k["kid"]: k for k in jwks["keys"]}
    assert by_kid[id_token.header["kid"]]["kty"] == kty
    assert id_token.claims["aud"] == rp.id and id_token.claims["nonce"] == got["sent"]["nonce"]

    for access_token in (tokens["access_token"], refresh(client, rp, tokens["refresh_token"])
                         .json()["access_token"]):  # fmt: skip
        header = jws.extract_compact(access_token.encode()).protected
        assert header["alg"] == "ES256" and by_kid[header["kid"]]["kty"] == "EC"
        assert decode_access_token(access_token, keys).client_id == rp.id
