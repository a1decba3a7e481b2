"""Idempotency-Key in the SDK: one per logical call, the same on its retries, never on reads."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from qcos import APIConnectionError, ConflictError
from tests.sdk.conftest import Recorder, api_error, call

GENERATED: dict[str, Any] = {
    "license_key": "QLOCK-AAAA-BBBB-CCCC",
    "quantum_signature": "ab" * 64,
    "end_customer_id": "c-1",
    "features": [],
    "valid_until": "2027-01-01T00:00:00Z",
    "generated_at": "2026-01-01T00:00:00Z",
    "quantum_verified": False,
    "qcos_fidelity": None,
    "security_level": "CRYPTOGRAPHIC",
    "license_file": "qlf1.x",
}
VALID: dict[str, Any] = {
    "valid": True,
    "end_customer_id": "c-1",
    "quantum_verified": False,
    "features": [],
    "expires_at": "2027-01-01T00:00:00Z",
    "message": None,
    "code": "VALID",
}


def dropped() -> httpx.ReadError:
    return httpx.ReadError("reset", request=httpx.Request("POST", "http://api.test"))


def keys_of(rec: Recorder) -> list[str | None]:
    return [r.headers.get("idempotency-key") for r in rec.requests]


def test_a_retry_sends_the_same_generated_key(mode: str, slept: list[float]) -> None:
    rec = Recorder(dropped(), httpx.Response(201, json=GENERATED))
    lic = call(mode, rec, "licenses.generate", "c-1")
    assert lic.license_key == GENERATED["license_key"]
    first, second = keys_of(rec)
    assert first is not None and first == second
    assert uuid.UUID(first).version == 4
    assert len(slept) == 1


def test_each_call_gets_its_own_key(mode: str) -> None:
    rec = Recorder(httpx.Response(201, json=GENERATED))
    call(mode, rec, "licenses.generate", "c-1")
    call(mode, rec, "licenses.generate", "c-1")
    first, second = keys_of(rec)
    assert first != second


def test_a_given_key_is_sent_as_is(mode: str) -> None:
    rec = Recorder(httpx.Response(201, json=GENERATED))
    call(mode, rec, "licenses.generate", "c-1", idempotency_key="order-42")
    assert keys_of(rec) == ["order-42"]


def test_reads_and_checks_send_no_key(mode: str) -> None:
    rec = Recorder(httpx.Response(200, json=VALID))
    call(mode, rec, "licenses.validate", "QLOCK-AAAA-BBBB-CCCC", "c-1")
    assert keys_of(rec) == [None]


def test_a_key_in_use_is_waited_out_and_a_reused_key_is_not(mode: str, slept: list[float]) -> None:
    rec = Recorder(api_error(409, "IDEMPOTENCY_KEY_IN_USE"), httpx.Response(201, json=GENERATED))
    call(mode, rec, "licenses.generate", "c-1")
    assert len(rec.requests) == 2 and len(set(keys_of(rec))) == 1

    reused = Recorder(api_error(409, "IDEMPOTENCY_KEY_REUSED"))
    with pytest.raises(ConflictError) as info:
        call(mode, reused, "licenses.generate", "c-1", idempotency_key="k")
    assert info.value.code == "IDEMPOTENCY_KEY_REUSED" and len(reused.requests) == 1


def test_without_retries_the_dropped_answer_surfaces(mode: str) -> None:
    rec = Recorder(dropped())
    with pytest.raises(APIConnectionError):
        call(mode, rec, "licenses.generate", "c-1", client_kwargs={"max_retries": 0})
    assert len(rec.requests) == 1
