"""Idempotency-Key through the app: replay, mismatch, in flight, tenants, errors, 24 h expiry."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from anyio import to_thread
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from quantumlock.idempotency.models import IdempotencyRecord
from quantumlock.idempotency.service import (
    LOCK_TIMEOUT,
    Claim,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyService,
    StoredAnswer,
)
from quantumlock.licensing.models import License
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.fakes.clock import FakeClock

GEN = "/api/v1/licenses/generate"
BODY = {"end_customer_id": "customer@company.com", "features": ["pro"], "valid_days": 30}


def idem(key: str, api_key: str) -> dict[str, str]:
    return {**bearer(api_key), "Idempotency-Key": key}


def licenses_of(app: FastAPI, account_id: str) -> int:
    with app.state.runtime.unit_of_work() as session:
        count = session.scalar(
            select(func.count()).select_from(License).where(License.account_id == account_id)
        )
    return int(count or 0)


def records(app: FastAPI, account_id: str) -> list[IdempotencyRecord]:
    with app.state.runtime.unit_of_work() as session:
        query = select(IdempotencyRecord).where(IdempotencyRecord.account_id == account_id)
        return list(session.scalars(query))


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    fake = FakeClock(datetime(2020, 1, 1, tzinfo=UTC).timestamp())  # before any real record
    app.state.idempotency.now = lambda: datetime.fromtimestamp(fake(), UTC)
    yield fake


def test_a_retried_generate_returns_the_first_license_and_counts_once(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    key = str(uuid.uuid4())
    first = client.post(GEN, json=BODY, headers=idem(key, account.admin_key))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert first.headers["idempotency-key"] == key
    # Key order and spacing do not make another request.
    again = client.post(
        GEN,
        content=b'{"valid_days": 30, "features": ["pro"],  '
        b'"end_customer_id": "customer@company.com"}',
        headers={**idem(key, account.admin_key), "Content-Type": "application/json"},
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    for header in ("x-quota-limit", "x-quota-remaining", "x-quota-reset"):
        assert again.headers[header] == first.headers[header]
    assert licenses_of(app, account.id) == 1
    # One quota unit: the next license leaves one fewer.
    other = client.post(GEN, json=BODY, headers=bearer(account.admin_key))
    assert int(other.headers["x-quota-remaining"]) == int(first.headers["x-quota-remaining"]) - 1


def test_the_stored_answer_is_sealed(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    made = client.post(
        "/api/v2/keys",
        json={"name": "ci", "scopes": ["licenses:read"]},
        headers=idem("create-ci-key", account.admin_key),
    )
    assert made.status_code == 201, made.text
    secret = made.json()["data"]["key"]
    replay = client.post(
        "/api/v2/keys",
        json={"name": "ci", "scopes": ["licenses:read"]},
        headers=idem("create-ci-key", account.admin_key),
    )
    # A lost answer must not lose the key: the replay shows the same secret, one key exists.
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["data"] == made.json()["data"]
    listed = client.get("/api/v2/keys", headers=bearer(account.admin_key)).json()["data"]["keys"]
    assert sum(1 for k in listed if k["name"] == "ci") == 1
    with app.state.runtime.unit_of_work() as session:
        raw = session.scalars(
            select(IdempotencyRecord.sealed).where(IdempotencyRecord.account_id == account.id)
        ).all()
    assert raw and all(secret.encode() not in bytes(blob) for blob in raw)


def test_the_same_key_with_another_request_is_409(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    headers = idem("k-1", account.admin_key)
    assert client.post(GEN, json=BODY, headers=headers).status_code == 201
    other = client.post(GEN, json={**BODY, "valid_days": 31}, headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    # Another path is another request too.
    key_create = client.post("/api/v2/keys", json={"name": "x"}, headers=headers)
    assert key_create.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert licenses_of(app, account.id) == 1


def test_a_key_in_flight_is_409_and_then_answers(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    writer = app.state.licensing.issuer.writer  # the API's group commit (on the event loop)
    store = writer.store
    inside, go = threading.Event(), threading.Event()

    async def held_store(new: Any) -> int | None:
        inside.set()
        assert await to_thread.run_sync(go.wait, 30)
        return await store(new)  # type: ignore[no-any-return]

    writer.store = held_store
    headers = idem("in-flight", account.admin_key)
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(client.post(GEN, json=BODY, headers=headers))
    )
    first.start()
    try:
        assert inside.wait(30)
        busy = client.post(GEN, json=BODY, headers=headers)
        assert busy.status_code == 409, busy.text
        assert busy.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    finally:
        go.set()
        first.join(30)
    writer.store = store
    assert results[0].status_code == 201
    replay = client.post(GEN, json=BODY, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == results[0].json()
    assert licenses_of(app, account.id) == 1


def test_keys_are_per_account_and_mode(
    client: TestClient, app: FastAPI, make_account: MakeAccount
) -> None:
    a, b = make_account(name="A"), make_account(name="B")
    made = client.post(
        "/api/v2/keys", json={"name": "sandbox", "type": "test"}, headers=bearer(a.admin_key)
    )
    a_test = made.json()["data"]["key"]
    answers = [
        client.post(GEN, json=BODY, headers=idem("shared", api_key))
        for api_key in (a.admin_key, b.admin_key, a_test)
    ]
    assert [r.status_code for r in answers] == [201, 201, 201]
    assert all("idempotent-replayed" not in r.headers for r in answers)
    assert len({r.json()["license_key"] for r in answers}) == 3


def test_an_error_is_not_stored_so_the_retry_executes(
    client: TestClient, account: AccountFixture
) -> None:
    lic = client.post(GEN, json=BODY, headers=bearer(account.admin_key)).json()["license_key"]
    url = f"/api/v1/licenses/{lic}/reinstate"
    headers = idem("reinstate-1", account.admin_key)
    refused = client.post(url, headers=headers)  # not suspended
    assert refused.status_code == 409 and refused.json()["code"] == "CONFLICT"
    suspend = f"/api/v1/licenses/{lic}/suspend"
    assert client.post(suspend, headers=bearer(account.admin_key)).status_code == 200
    done = client.post(url, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "active" and "idempotent-replayed" not in done.headers


def test_the_answer_commits_with_the_effect(
    client: TestClient, app: FastAPI, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the answer cannot be stored, the license is not stored either (one transaction);
    the key is released, so the retry makes exactly one license."""

    def broken(self: IdempotencyService, claim: Any, answer: StoredAnswer) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(IdempotencyService, "answer", broken)
    headers = idem("atomic", account.admin_key)
    assert client.post(GEN, json=BODY, headers=headers).status_code == 500
    assert licenses_of(app, account.id) == 0
    assert records(app, account.id) == []
    monkeypatch.undo()
    assert client.post(GEN, json=BODY, headers=headers).status_code == 201
    assert licenses_of(app, account.id) == 1


@pytest.mark.parametrize("key", [b"", b"x" * 256, "naïve".encode(), b"tab\there"])
def test_a_malformed_key_is_400(client: TestClient, account: AccountFixture, key: bytes) -> None:
    headers = [
        (b"authorization", f"Bearer {account.admin_key}".encode()),
        (b"idempotency-key", key),
    ]
    resp = client.post(GEN, json=BODY, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "VALIDATION_ERROR"
    assert resp.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_a_key_expires_after_24_hours_and_is_pruned(
    client: TestClient, app: FastAPI, account: AccountFixture, clock: FakeClock
) -> None:
    headers = idem("daily", account.admin_key)
    first = client.post(GEN, json=BODY, headers=headers)
    clock.advance(24 * 3600 - 1)
    assert client.post(GEN, json=BODY, headers=headers).json() == first.json()
    assert app.state.idempotency.prune() == 0
    clock.advance(2)
    # Expired: the key is new again, also for another body.
    fresh = client.post(GEN, json={**BODY, "valid_days": 7}, headers=headers)
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert fresh.json()["license_key"] != first.json()["license_key"]
    assert licenses_of(app, account.id) == 2
    clock.advance(24 * 3600 + 1)
    assert app.state.idempotency.prune() == 1
    assert records(app, account.id) == []


def test_lifecycle_and_keystore_replays(client: TestClient, account: AccountFixture) -> None:
    lic = client.post(GEN, json=BODY, headers=bearer(account.admin_key)).json()["license_key"]
    renew = f"/api/v1/licenses/{lic}/renew"
    first = client.post(renew, json={"valid_days": 10}, headers=idem("r", account.admin_key))
    again = client.post(renew, json={"valid_days": 10}, headers=idem("r", account.admin_key))
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    got = client.get(f"/api/v1/licenses/{lic}", headers=bearer(account.admin_key)).json()
    assert got == first.json()  # renewed once

    body = {"algorithm": "AES-256-GCM", "exportable": True}
    k1 = client.post("/api/v1/quantum/keys", json=body, headers=idem("q", account.admin_key))
    k2 = client.post("/api/v1/quantum/keys", json=body, headers=idem("q", account.admin_key))
    assert k1.status_code == 201 and k2.json() == k1.json()
    listed = client.get("/api/v1/quantum/keys", headers=bearer(account.admin_key)).json()
    assert listed["total"] == 1


def test_the_openapi_document_declares_the_header_and_the_409s(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path in (GEN, "/api/v2/keys", "/api/v1/licenses/{license_key}/revoke"):
        operation = paths[path]["post"]
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, path
        assert "IDEMPOTENCY_KEY_REUSED" in operation["responses"]["409"]["description"]
        assert "IDEMPOTENCY_KEY_IN_USE" in operation["responses"]["409"]["description"]
    validate = paths["/api/v1/licenses/validate"]["post"]
    assert "Idempotency-Key" not in [p["name"] for p in validate.get("parameters", [])]


def test_a_claim_whose_request_died_is_taken_over_after_the_lock_timeout(
    app: FastAPI, account: AccountFixture, clock: FakeClock
) -> None:
    """A process that died mid-request leaves its claim in flight: refused (IN_USE) until
    LOCK_TIMEOUT, then taken over; the dead request's late answer is refused, not stored."""
    domain = app.state.idempotency

    def claim() -> Any:
        with app.state.runtime.unit_of_work() as session:
            return domain.service(session).claim(account.id, "live", "crashed", "f" * 64)

    def answer(claimed: Any, body: bytes) -> None:
        with app.state.runtime.unit_of_work() as session:
            domain.service(session).answer(claimed, StoredAnswer(201, body))

    dead = claim()
    clock.advance(LOCK_TIMEOUT.total_seconds() - 1)
    with pytest.raises(IdempotencyKeyInUse):
        claim()
    clock.advance(2)
    retry = claim()
    assert isinstance(retry, Claim) and retry.token != dead.token
    with pytest.raises(IdempotencyKeyInUse):
        answer(dead, b'{"late": true}')
    answer(retry, b'{"retry": true}')
    stored = claim()
    assert isinstance(stored, StoredAnswer) and stored.body == b'{"retry": true}'
    with app.state.runtime.unit_of_work() as session, pytest.raises(IdempotencyKeyReused):
        domain.service(session).claim(account.id, "live", "crashed", "0" * 64)
