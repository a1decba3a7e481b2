"""Isolation cases of the usage area: a keystore key of another account is a 404 page."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture, bearer
from tests.portal.matrix import Case


def _quantum_key(app: FastAPI, victim: AccountFixture) -> dict[str, str]:
    # The matrix test has started the app (its `client` fixture): no second start-up here.
    made = TestClient(app).post(
        "/api/v1/quantum/keys", json={"algorithm": "Ed25519"}, headers=bearer(victim.admin_key)
    )
    assert made.status_code == 201, made.text
    return {"key_id": made.json()["key_id"]}


CASES = [Case("GET", "/portal/keystore/{key_id}", _quantum_key)]
