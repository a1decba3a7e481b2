"""Review: /portal/entropy runs the same work as GET /api/v1/quantum/health (start up
unhealthy sources, one test draw from the shared sources, the remote QCOS API first), but
the API route counts against the account's /api/v1 limit and the page counted against
nothing: one tenant's member reloading it without end drew on the sources every tenant
shares. The page now takes the same buckets as the API route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.licensing.models import SigningKey
from tests.conftest import MakeAccount
from tests.portal.support import portal_user


def test_the_entropy_page_is_held_to_the_accounts_api_limit(
    app: FastAPI, client: TestClient, make_account: MakeAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    entropy = app.state.runtime.entropy
    draws: list[int] = []
    real = entropy.health

    def counted(*args: Any, **kwargs: Any) -> Any:
        draws.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(entropy, "health", counted)
    account = make_account(plan="free")  # /api/v1: 60 a minute, burst 100
    member = portal_user(app, account, "member")
    answers = [member.client.get("/portal/entropy").status_code for _ in range(150)]
    assert set(answers) == {200, 429}
    assert len(draws) <= 100  # never more than the account's API burst
    refused = member.client.get("/portal/entropy")
    assert refused.status_code == 429
    assert "Too many requests" in refused.text
    assert refused.headers["content-type"].startswith("text/html")


def test_signing_key_rotation_is_held_to_the_accounts_api_limit(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    """Each rotation draws 64 bytes from the shared entropy sources and makes an ML-DSA
    key pair (CPU); the page had no limit at all (the CLI is the only other way)."""
    account = make_account(plan="free")  # this user's share: burst 50
    owner = portal_user(app, account, "owner")
    token = owner.csrf()
    answers = [
        owner.client.post(
            "/portal/licenses/signing-keys/rotate",
            data={"csrf_token": token},
            follow_redirects=False,
        ).status_code
        for _ in range(60)
    ]
    assert set(answers) == {303, 429}
    with app.state.runtime.unit_of_work() as session:
        made = session.query(SigningKey).filter_by(account_id=account.id).count()
    assert made <= 51  # the first key and at most a burst of rotations
