"""Error mapping, automatic retries and secret hygiene, for both Client and AsyncClient."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import pytest

from qcos import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    Client,
    ConfigurationError,
    ConflictError,
    DecryptionError,
    NotFoundError,
    PermissionDeniedError,
    QCOSError,
    QuantumUnavailableError,
    RateLimitError,
    ValidationError,
)
from tests.sdk.conftest import BASE, KEY, KEY_ROW, ME, SECRET, Recorder, api_error, call, ok


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (400, "VALIDATION_ERROR", ValidationError),
        (401, "UNAUTHORIZED", AuthenticationError),
        (401, "KEY_EXPIRED", AuthenticationError),
        (401, "KEY_REVOKED", AuthenticationError),
        (403, "INSUFFICIENT_SCOPE", PermissionDeniedError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "CONFLICT", ConflictError),
        (429, "RATE_LIMIT_EXCEEDED", RateLimitError),
        (500, "INTERNAL_ERROR", APIError),
        (400, "DECRYPTION_FAILED", DecryptionError),
        (503, "QUANTUM_UNAVAILABLE", QuantumUnavailableError),
        (418, "TEAPOT", APIError),
    ],
)
def test_status_maps_to_exception(mode: str, status: int, code: str, exc: type[QCOSError]) -> None:
    rec = Recorder(api_error(status, code, retry_after=5 if status == 429 else None))
    with pytest.raises(QCOSError) as info:
        call(mode, rec, "me", client_kwargs={"max_retries": 0})
    err = info.value
    assert type(err) is exc and isinstance(err, APIError)
    assert (err.status_code, err.code, err.request_id) == (status, code, "req_1")
    assert err.detail == f"{code} happened"
    assert isinstance(err.body, dict) and err.body["code"] == code
    assert str(err) == f"{code} ({status}): {code} happened [request_id=req_1]"


def test_request_id_falls_back_to_the_header(mode: str) -> None:
    response = httpx.Response(
        404, json={"detail": "nope", "code": "NOT_FOUND"}, headers={"x-request-id": "req_h"}
    )
    with pytest.raises(NotFoundError) as info:
        call(mode, Recorder(response), "keys.revoke", "key_x")
    assert info.value.request_id == "req_h"
    assert str(info.value) == "NOT_FOUND (404): nope [request_id=req_h]"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="<html>bad gateway</html>", headers={"x-request-id": "req_p"}),
        httpx.Response(500, json=["not", "an", "object"], headers={"x-request-id": "req_p"}),
        httpx.Response(503, headers={"x-request-id": "req_p"}),
    ],
    ids=["html", "json-list", "empty"],
)
def test_unreadable_error_bodies_still_raise(response: httpx.Response) -> None:
    with pytest.raises(APIError) as info:
        call("sync", Recorder(response), "me")
    err = info.value
    assert (err.code, err.status_code, err.request_id) == ("UNKNOWN", response.status_code, "req_p")
    assert err.detail
    assert str(err).startswith(f"UNKNOWN ({response.status_code}): ")


def test_validation_error_exposes_field_errors() -> None:
    fields = [{"loc": ["body", "name"], "msg": "too short", "type": "string_too_short"}]
    with pytest.raises(ValidationError) as info:
        call("sync", Recorder(api_error(400, "VALIDATION_ERROR", errors=fields)), "keys.create", "")
    assert info.value.errors == fields
    with pytest.raises(ValidationError) as bare:
        call("sync", Recorder(api_error(400, "VALIDATION_ERROR")), "keys.create", "")
    assert bare.value.errors == []


@pytest.mark.parametrize(
    ("headers", "body_retry_after", "expected"),
    [
        ({"retry-after": "7"}, 3, 7),  # the header wins
        ({}, 3, 3),  # falls back to the body
        ({"retry-after": "1.2"}, None, 2),  # rounds up, never retries early
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, 4, 4),
        ({}, None, 1),
    ],
)
def test_rate_limit_retry_after(
    headers: dict[str, str], body_retry_after: int | None, expected: int
) -> None:
    body: dict[str, Any] = {"detail": "slow down", "code": "RATE_LIMIT_EXCEEDED"}
    if body_retry_after is not None:
        body["retry_after"] = body_retry_after
    response = httpx.Response(429, json=body, headers=headers)
    with pytest.raises(RateLimitError) as info:
        call("sync", Recorder(response), "me", client_kwargs={"max_retries": 0})
    assert info.value.retry_after == expected


def test_retries_429_honouring_retry_after(mode: str, slept: list[float]) -> None:
    rec = Recorder(
        api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=3),
        api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=2),
        ok(ME),
    )
    assert call(mode, rec, "me").key_id == "key_abc"
    assert slept == [3.0, 2.0]
    assert len(rec.requests) == 3


def test_429_is_retried_for_posts_too(mode: str, slept: list[float]) -> None:
    """A 429 means the server did nothing, so even a create is safe to send again."""
    rec = Recorder(
        api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=1), ok({**KEY_ROW, "key": SECRET}, 201)
    )
    assert call(mode, rec, "keys.create", "ci").key == SECRET
    assert slept == [1.0] and [r.method for r in rec.requests] == ["POST", "POST"]


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2), (2, 3)])
def test_rate_limit_error_once_retries_run_out(
    mode: str, slept: list[float], max_retries: int, attempts: int
) -> None:
    rec = Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=1))
    with pytest.raises(RateLimitError) as info:
        call(mode, rec, "me", client_kwargs={"max_retries": max_retries})
    assert info.value.retry_after == 1
    assert len(rec.requests) == attempts
    assert slept == [1.0] * (attempts - 1)


def test_no_sleep_when_retry_after_is_past_the_cap(mode: str, slept: list[float]) -> None:
    rec = Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=3600))
    with pytest.raises(RateLimitError) as info:
        call(mode, rec, "me")
    assert info.value.retry_after == 3600
    assert len(rec.requests) == 1 and slept == []


def test_other_errors_are_not_retried(mode: str, slept: list[float]) -> None:
    rec = Recorder(api_error(503, "QUANTUM_UNAVAILABLE"))
    with pytest.raises(APIError):
        call(mode, rec, "me")
    assert len(rec.requests) == 1 and slept == []


def refused(request: httpx.Request) -> httpx.ConnectError:
    return httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("method", "args", "attempts"),
    [
        ("me", (), 3),
        ("keys.list", (), 3),
        ("keys.revoke", ("key_abc",), 3),
        # Retried with the call's one Idempotency-Key: the server replays a lost answer.
        ("keys.create", ("ci",), 3),
        ("keys.rotate", ("key_abc",), 3),
    ],
)
def test_connection_errors_retry_only_idempotent_requests(
    mode: str, slept: list[float], method: str, args: tuple[Any, ...], attempts: int
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise refused(request)

    with pytest.raises(APIConnectionError) as info:
        call(mode, handler, method, *args)
    assert len(seen) == attempts
    assert slept == [0.5, 1.0][: attempts - 1]
    err = info.value
    assert err.status_code is None and err.code == "CONNECTION_ERROR"
    assert "ConnectError" in str(err) and isinstance(err.__cause__, httpx.ConnectError)


def test_connection_error_then_success(mode: str, slept: list[float]) -> None:
    answers: list[Any] = ["fail", ok({"keys": []})]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if answer == "fail":
            raise httpx.ReadTimeout("timed out", request=request)
        assert isinstance(answer, httpx.Response)
        return answer

    assert call(mode, handler, "keys.list") == []
    assert slept == [0.5]


def test_connection_errors_not_retried_when_disabled(mode: str, slept: list[float]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise refused(request)

    with pytest.raises(APIConnectionError):
        call(mode, handler, "me", client_kwargs={"max_retries": 0})
    assert seen == ["GET"] and slept == []


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>login</html>"), "not JSON"),
        (httpx.Response(200, json={"key_id": "key_abc"}), "missing field 'data'"),
        (httpx.Response(200, json={"data": {"key_id": "key_abc"}}), "missing field"),
        (httpx.Response(200), "TypeError"),
        (httpx.Response(302, headers={"location": "/login"}), None),
    ],
    ids=["html", "no-envelope", "missing-field", "empty", "redirect"],
)
def test_unreadable_success_bodies_raise_api_error(
    response: httpx.Response, reason: str | None
) -> None:
    with pytest.raises(APIError) as info:
        call("sync", Recorder(response), "me")
    if reason is not None:
        assert info.value.code == "INVALID_RESPONSE" and reason in info.value.detail
    assert info.value.status_code == response.status_code


def test_half_readable_created_key_does_not_leak_its_secret() -> None:
    broken = {**KEY_ROW, "key": SECRET, "created_at": "not a date " + SECRET}
    with pytest.raises(APIError) as info:
        call("sync", Recorder(ok(broken, 201)), "keys.create", "ci")
    err = info.value
    assert err.code == "INVALID_RESPONSE"
    for text in (str(err), repr(err), repr(err.body), repr(err.args)):
        assert SECRET not in text


def test_the_api_key_never_appears_in_errors(mode: str, slept: list[float]) -> None:
    for answer in (api_error(401, "UNAUTHORIZED"), api_error(500, "INTERNAL_ERROR")):
        with pytest.raises(QCOSError) as info:
            call(mode, Recorder(answer), "me")
        assert KEY not in str(info.value) and KEY not in repr(info.value)

    def handler(request: httpx.Request) -> httpx.Response:
        raise refused(request)

    with pytest.raises(APIConnectionError) as conn:
        call(mode, handler, "me")
    assert KEY not in str(conn.value) and KEY not in repr(conn.value)


def test_configuration_error_message() -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(api_key="", base_url=BASE)
    assert str(info.value) == "NO_API_KEY: No API key: pass api_key=... or set QCOS_API_KEY."


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("slow", retry_after=3, status_code=429, code="RATE_LIMIT_EXCEEDED"),
        ValidationError("bad", status_code=400, code="VALIDATION_ERROR", body={"errors": [1]}),
        APIConnectionError("ConnectError: refused", code="CONNECTION_ERROR"),
    ],
)
def test_errors_survive_pickling(error: QCOSError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is type(error) and str(copy) == str(error)
    assert copy.__dict__ == error.__dict__
