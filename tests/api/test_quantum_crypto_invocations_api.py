"""#16 finding 15: a keystore key encrypts at most AEAD_INVOCATION_LIMIT times (2**32 in
production, SP 800-38D 8.3), counted across processes in blocks, then 409 CONFLICT."""

from __future__ import annotations

import time
from functools import partial

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.crypto import invocations
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.models import QuantumKey
from quantumlock.db.unit_of_work import unit_of_work
from tests.api.test_auth_api import assert_error
from tests.api.test_quantum_keys_api import b64, new_key
from tests.conftest import AccountFixture, bearer

ENC = "/api/v1/quantum/crypto/encrypt"
DEC = "/api/v1/quantum/crypto/decrypt"


def counted(app: FastAPI, key_id: str) -> int:
    with app.state.runtime.unit_of_work() as session:
        row = session.get(QuantumKey, key_id)
        assert row is not None
        return int(row.invocations)


def test_encryptions_stop_at_the_limit(
    client: TestClient, app: FastAPI, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invocations.AEAD_INVOCATION_LIMIT == 2**32
    monkeypatch.setattr(invocations, "AEAD_INVOCATION_LIMIT", 7)
    monkeypatch.setattr(invocations, "RESERVATION_BLOCK", 3)
    key_id = new_key(client, account.admin_key, "AES-256-GCM")["key_id"]
    headers = bearer(account.admin_key)
    body = {"plaintext": b64(b"attack at dawn"), "key_id": key_id}
    first = client.post(ENC, json=body, headers=headers)
    assert first.status_code == 200, first.text
    # One block reserved in the database; the next two come from memory (the fast path).
    assert counted(app, key_id) == 3
    for _ in range(2):
        assert client.post(ENC, json=body, headers=headers).status_code == 200
    assert counted(app, key_id) == 3
    # Another process (node) reserves from the same counter: the total never passes 7.
    other = InvocationBudget()
    with app.state.runtime.unit_of_work() as session:
        other.take_or_reserve(session, key_id)
    assert counted(app, key_id) == 6
    # This process has none left: a block of 3 no longer fits, the last 1 does.
    assert client.post(ENC, json=body, headers=headers).status_code == 200
    assert counted(app, key_id) == 7
    refused = client.post(ENC, json=body, headers=headers)
    err = assert_error(refused, 409, "CONFLICT")
    assert "limit of 7 encryptions" in err["detail"]
    assert counted(app, key_id) == 7
    # Decryption is not limited: what was encrypted stays readable.
    enc = first.json()
    plain = client.post(
        DEC,
        json={
            "ciphertext": enc["ciphertext"],
            "key_id": key_id,
            "iv": enc["iv"],
            "tag": enc["tag"],
        },
        headers=headers,
    )
    assert plain.status_code == 200, plain.text


def test_a_new_key_counts_its_first_encryption(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    resp = client.post(ENC, json={"plaintext": b64(b"x")}, headers=bearer(account.admin_key))
    assert resp.status_code == 200, resp.text
    assert counted(app, resp.json()["key_id"]) == invocations.RESERVATION_BLOCK


def test_the_next_block_is_reserved_before_the_budget_runs_out(
    client: TestClient, app: FastAPI, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy key must never run dry: every request in flight at that moment would take the
    # full path (a thread, a session, the row lock) at once.
    monkeypatch.setattr(invocations, "RESERVATION_BLOCK", 8)  # refilled below 2 left
    key_id = new_key(client, account.admin_key, "AES-256-GCM")["key_id"]
    runtime = app.state.runtime
    budget = InvocationBudget(partial(unit_of_work, runtime.sessions))
    with runtime.unit_of_work() as session:
        budget.take_or_reserve(session, key_id)  # the first block: this call and 7 left
    first = counted(app, key_id)
    for _ in range(6):  # 7 left -> 1: the last of these finds 2 left and starts a refill
        assert budget.take(key_id)
    deadline = time.monotonic() + 10
    while counted(app, key_id) < first + 8:
        assert time.monotonic() < deadline, "the next block was never reserved"
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while budget._left.get(key_id, 0) < 9:  # credited once the refill commits
        assert time.monotonic() < deadline, "the reserved block was never credited"
        time.sleep(0.01)
    # 1 + 8 in memory: none of these needs the database.
    assert all(budget.take(key_id) for _ in range(9))
    budget.close()
    assert counted(app, key_id) == first + 8 + 8  # a refill at 2 left again, then no more
