"""encrypt and sign without key_id use one default key per account, mode and algorithm (#18),
instead of storing a new key on every call."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.core.actor import Actor
from quantumlock.crypto.models import QuantumKey
from quantumlock.crypto.repository import QuantumKeyRepository
from tests.api.test_quantum_keys_api import KEYS, b64, unb64
from tests.conftest import AccountFixture, bearer

ENC = "/api/v1/quantum/crypto/encrypt"
DEC = "/api/v1/quantum/crypto/decrypt"
SIGN = "/api/v1/quantum/crypto/sign"
VERIFY = "/api/v1/quantum/crypto/verify"


def post(client: TestClient, url: str, key: str, **body: Any) -> dict[str, Any]:
    answer = client.post(url, json=body, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def stored(client: TestClient, key: str) -> list[dict[str, Any]]:
    page = client.get(KEYS, params={"limit": 1000}, headers=bearer(key)).json()
    keys: list[dict[str, Any]] = page["keys"]
    return keys


def test_encrypt_without_a_key_reuses_the_default_per_algorithm(
    client: TestClient, account: AccountFixture
) -> None:
    admin = account.admin_key
    first = post(client, ENC, admin, plaintext=b64(b"one"))
    second = post(client, ENC, admin, plaintext=b64(b"two"))
    assert first["key_id"] == second["key_id"] and first["algorithm"] == "AES-256-GCM"
    chacha = [
        post(client, ENC, admin, plaintext=b64(b"x"), algorithm="ChaCha20-Poly1305")["key_id"]
        for _ in range(2)
    ]
    assert chacha[0] == chacha[1] != first["key_id"]
    keys = stored(client, admin)
    assert len(keys) == 2  # not one per call
    assert {k["key_id"]: k["default_for"] for k in keys} == {
        first["key_id"]: "AES-256-GCM",
        chacha[0]: "ChaCha20-Poly1305",
    }
    for done, text in ((first, b"one"), (second, b"two")):
        body = {k: done[k] for k in ("ciphertext", "key_id", "iv", "tag")}
        assert unb64(post(client, DEC, admin, **body)["plaintext"]) == text


def test_the_default_is_per_mode_and_per_account(
    client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    made = client.post(
        "/api/v2/keys", json={"name": "sandbox", "type": "test"}, headers=account.headers
    )
    sandbox = made.json()["data"]["key"]
    other = make_account(name="Other").admin_key
    ids = {
        who: post(client, ENC, key, plaintext=b64(b"x"))["key_id"]
        for who, key in (("live", account.admin_key), ("test", sandbox), ("other", other))
    }
    assert len(set(ids.values())) == 3
    assert post(client, ENC, sandbox, plaintext=b64(b"y"))["key_id"] == ids["test"]


def test_sign_without_a_key_reuses_the_default(client: TestClient, account: AccountFixture) -> None:
    admin = account.admin_key
    signed = [post(client, SIGN, admin, message=b64(b"m"), algorithm="Ed25519") for _ in range(2)]
    assert signed[0]["key_id"] == signed[1]["key_id"]
    check = post(
        client,
        VERIFY,
        admin,
        message=b64(b"m"),
        signature=signed[1]["signature"],
        quantum_nonce=signed[1]["quantum_nonce"],
        algorithm="Ed25519",
        key_id=signed[1]["key_id"],
    )
    assert check["valid"] is True
    assert [k["default_for"] for k in stored(client, admin)] == ["Ed25519"]


def test_destroying_the_default_makes_the_next_call_create_a_new_one(
    client: TestClient, account: AccountFixture
) -> None:
    admin = account.admin_key
    old = post(client, ENC, admin, plaintext=b64(b"x"))["key_id"]
    assert client.delete(f"{KEYS}/{old}", headers=bearer(admin)).status_code == 204
    new = post(client, ENC, admin, plaintext=b64(b"x"))["key_id"]
    assert new != old
    assert post(client, ENC, admin, plaintext=b64(b"x"))["key_id"] == new


def test_a_created_key_is_never_the_default(client: TestClient, account: AccountFixture) -> None:
    admin = account.admin_key
    made = client.post(KEYS, json={"algorithm": "AES-256-GCM"}, headers=bearer(admin)).json()
    assert made["default_for"] is None
    assert post(client, ENC, admin, plaintext=b64(b"x"))["key_id"] != made["key_id"]


@pytest.mark.parametrize("algorithm", ["AES-256-GCM", "Ed25519"])
def test_concurrent_first_calls_make_one_default(
    app: FastAPI,
    client: TestClient,
    account: AccountFixture,
    monkeypatch: pytest.MonkeyPatch,
    algorithm: str,
) -> None:
    """Both callers find no default, both make a candidate; the unique index lets one in and
    the other uses the winner's key (on PostgreSQL its insert waits for the winner's commit,
    on SQLite for the writer lock)."""
    crypto = app.state.crypto
    runtime = app.state.runtime
    caller = Actor(account.id, "live", "key_test")
    lookup = QuantumKeyRepository.default_key
    both_looked = threading.Barrier(2, timeout=30)
    first_lookups: set[int] = set()

    def racing_lookup(self: QuantumKeyRepository, *args: Any) -> QuantumKey | None:
        found = lookup(self, *args)
        me = threading.get_ident()
        if me not in first_lookups:  # only each thread's first look waits for the other's
            first_lookups.add(me)
            both_looked.wait()
        return found

    monkeypatch.setattr(QuantumKeyRepository, "default_key", racing_lookup)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def call(n: int) -> None:
        try:
            with runtime.unit_of_work() as session:
                results[n] = crypto.keystore(session).default_key(caller, algorithm).id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert results[0] == results[1]
    monkeypatch.undo()
    keys = stored(client, account.admin_key)
    assert [k["key_id"] for k in keys] == [results[0]]
    assert keys[0]["default_for"] == algorithm
