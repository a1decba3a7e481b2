"""#16 finding 4 through the app: RSA generation past the account's cap is 429 with
Retry-After (RATE_LIMIT_EXCEEDED), for /quantum/rsa and /crypto/sign without key_id; other
accounts and cheap calls are not affected."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from quantumlock.crypto.domain import CryptoDomain
from tests.conftest import AccountFixture, bearer


def test_rsa_past_the_account_cap_is_429(client: TestClient, account: AccountFixture) -> None:
    crypto: CryptoDomain = client.app.state.crypto  # type: ignore[attr-defined]
    cap = crypto.keygen.per_account
    msg = base64.b64encode(b"hello").decode()
    holds = [crypto.keygen.slot(account.id) for _ in range(cap)]
    for hold in holds:  # the account's generations in flight (as concurrent requests would)
        hold.__enter__()
    try:
        for path, body in [
            ("/api/v1/quantum/rsa", {"bits": 2048}),
            ("/api/v1/quantum/crypto/sign", {"message": msg}),
        ]:
            resp = client.post(path, json=body, headers=bearer(account.admin_key))
            assert resp.status_code == 429, resp.text
            err = resp.json()
            assert err["code"] == "RATE_LIMIT_EXCEEDED" and err["retry_after"] >= 1
            assert int(resp.headers["Retry-After"]) == err["retry_after"]
            assert err["reason"] == "rate_limit"  # worth a retry, unlike the monthly quota
        # A signature with a cheap fresh key needs no slot.
        cheap = client.post(
            "/api/v1/quantum/crypto/sign",
            json={"message": msg, "algorithm": "Ed25519"},
            headers=bearer(account.admin_key),
        )
        assert cheap.status_code == 200, cheap.text
    finally:
        for hold in holds:
            hold.__exit__(None, None, None)
    made = client.post(
        "/api/v1/quantum/rsa", json={"bits": 2048}, headers=bearer(account.admin_key)
    )
    assert made.status_code == 201, made.text
