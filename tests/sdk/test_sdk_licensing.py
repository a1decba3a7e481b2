"""client.licenses and client.customers against httpx.MockTransport, sync and async."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import qcos
from qcos import (
    APIConnectionError,
    APIError,
    AsyncClient,
    Client,
    Customer,
    CustomerStats,
    GeneratedLicense,
    License,
    LicensePage,
    LicenseSummary,
    LicenseValidation,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from qcos import _operations as ops
from tests.sdk.conftest import BASE, KEY, Recorder, api_error, call

LICENSE_KEY = "QLOCK-7A3F-9B2C-4E1D"
SIGNATURE = "ab" * 64
LICENSE_FILE = "qlf1.eyJ4IjoxfQ.c2ln.cHFzaWc"
CUSTOMER = "customer@company.com"

GENERATED: dict[str, Any] = {
    "license_key": LICENSE_KEY,
    "quantum_signature": SIGNATURE,
    "end_customer_id": CUSTOMER,
    "features": ["premium", "api_access"],
    "valid_until": "2027-01-01T00:00:00Z",
    "quantum_verified": True,
    "qcos_fidelity": 0.97,
    "security_level": "QUANTUM_SAFE",
    "generated_at": "2026-01-01T00:00:00Z",
    "license_file": LICENSE_FILE,
    "added_in_a_later_server": 1,
}
STORED: dict[str, Any] = {
    **GENERATED,
    "status": "active",
    "metadata": {"order": 42},
    "created_at": "2026-01-01T00:00:00.5+00:00",
    "signing_kid": "sk_1",
}
VALID: dict[str, Any] = {
    "valid": True,
    "end_customer_id": CUSTOMER,
    "quantum_verified": True,
    "features": ["premium", "api_access"],
    "expires_at": "2027-01-01T00:00:00Z",
    "message": None,
    "code": "VALID",
}
INVALID: dict[str, Any] = {
    "valid": False,
    "end_customer_id": "someone@else.com",
    "quantum_verified": False,
    "features": None,
    "expires_at": None,
    "message": "License does not belong to this end customer.",
    "code": "CUSTOMER_MISMATCH",
}
ROW: dict[str, Any] = {
    "license_key": LICENSE_KEY,
    "end_customer_id": CUSTOMER,
    "features": ["premium"],
    "valid_until": "2027-01-01T00:00:00Z",
    "created_at": "2026-01-01T00:00:00Z",
    "status": "suspended",
}
SIGNING_KEYS: dict[str, Any] = {
    "keys": [
        {
            "kid": "sk_1",
            "alg": "Ed25519+ML-DSA-65",
            "status": "active",
            "created_at": "2026-01-01T00:00:00Z",
            "public_keys": {"Ed25519": "ZWQ", "ML-DSA-65": "cHE"},
        }
    ]
}
CUSTOMER_ME: dict[str, Any] = {
    "id": "cust_abc",
    "name": "ACME Corp",
    "email": "admin@acme.example",
    "plan": "business",
    "created_at": "2026-01-01T00:00:00Z",
}
STATS: dict[str, Any] = {
    "plan": "enterprise",
    "licenses_generated_month": 7,
    "licenses_remaining_month": None,
    "max_licenses_month": None,
    "total_licenses_all_time": 12,
    "active_licenses": 9,
}

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
NEXT_YEAR = datetime(2027, 1, 1, tzinfo=UTC)
GENERATED_MODEL = GeneratedLicense(
    license_key=LICENSE_KEY,
    end_customer_id=CUSTOMER,
    features=["premium", "api_access"],
    valid_until=NEXT_YEAR,
    quantum_verified=True,
    qcos_fidelity=0.97,
    security_level="QUANTUM_SAFE",
    generated_at=JAN1,
    quantum_signature=SIGNATURE,
    license_file=LICENSE_FILE,
)
GENERATED_FIELDS = {
    f.name: getattr(GENERATED_MODEL, f.name) for f in dataclasses.fields(GeneratedLicense)
}
STORED_MODEL = License(
    **GENERATED_FIELDS,
    status="active",
    metadata={"order": 42},
    created_at=datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    signing_kid="sk_1",
)


def v1(body: Any, status: int = 200) -> httpx.Response:
    """A bare /api/v1 body: no {"data": ...} envelope."""
    return httpx.Response(status, json=body, headers={"x-request-id": "req_v1"})


# (client method, args, kwargs, response factory, HTTP method, path, query, JSON body, result)
Case = tuple[
    str,
    tuple[Any, ...],
    dict[str, Any],
    Callable[[], httpx.Response],
    str,
    str,
    dict[str, str],
    Any,
    Any,
]
CASES: list[Case] = [
    (
        "licenses.generate",
        (CUSTOMER,),
        {},
        lambda: v1(GENERATED, 201),
        "POST",
        "/api/v1/licenses/generate",
        {},
        {"end_customer_id": CUSTOMER},
        GENERATED_MODEL,
    ),
    (
        "licenses.generate",
        (CUSTOMER,),
        {"features": ["premium"], "valid_days": 30, "metadata": {"order": 42}},
        lambda: v1(GENERATED, 201),
        "POST",
        "/api/v1/licenses/generate",
        {},
        {
            "end_customer_id": CUSTOMER,
            "features": ["premium"],
            "valid_days": 30,
            "metadata": {"order": 42},
        },
        GENERATED_MODEL,
    ),
    (
        "licenses.generate",
        (CUSTOMER,),
        {"features": [], "metadata": {}},  # empty, not None: still sent
        lambda: v1({**GENERATED, "qcos_fidelity": None, "features": []}, 201),
        "POST",
        "/api/v1/licenses/generate",
        {},
        {"end_customer_id": CUSTOMER, "features": [], "metadata": {}},
        dataclasses.replace(GENERATED_MODEL, qcos_fidelity=None, features=[]),
    ),
    (
        "licenses.validate",
        (LICENSE_KEY, CUSTOMER),
        {},
        lambda: v1(VALID),
        "POST",
        "/api/v1/licenses/validate",
        {},
        {"license_key": LICENSE_KEY, "end_customer_id": CUSTOMER},
        LicenseValidation(
            valid=True,
            code="VALID",
            end_customer_id=CUSTOMER,
            quantum_verified=True,
            features=["premium", "api_access"],
            expires_at=NEXT_YEAR,
            message=None,
        ),
    ),
    (
        "licenses.validate",
        (LICENSE_KEY, "someone@else.com"),
        {"features": ["premium"]},
        lambda: v1(INVALID),
        "POST",
        "/api/v1/licenses/validate",
        {},
        {
            "license_key": LICENSE_KEY,
            "end_customer_id": "someone@else.com",
            "features": ["premium"],
        },
        LicenseValidation(
            valid=False,
            code="CUSTOMER_MISMATCH",
            end_customer_id="someone@else.com",
            quantum_verified=False,
            features=None,
            expires_at=None,
            message="License does not belong to this end customer.",
        ),
    ),
    (
        "licenses.list",
        (),
        {},
        lambda: v1({"total": 1, "skip": 0, "limit": 100, "licenses": [ROW]}),
        "GET",
        "/api/v1/licenses",
        {},  # the server's defaults (skip 0, limit 100)
        None,
        LicensePage(
            total=1,
            skip=0,
            limit=100,
            licenses=[
                LicenseSummary(
                    license_key=LICENSE_KEY,
                    end_customer_id=CUSTOMER,
                    features=["premium"],
                    valid_until=NEXT_YEAR,
                    created_at=JAN1,
                    status="suspended",
                )
            ],
        ),
    ),
    (
        "licenses.list",
        (),
        {"skip": 20, "limit": 10, "end_customer_id": "a b&c", "status": "revoked"},
        lambda: v1({"total": 20, "skip": 20, "limit": 10, "licenses": []}),
        "GET",
        "/api/v1/licenses",
        {"skip": "20", "limit": "10", "end_customer_id": "a b&c", "status": "revoked"},
        None,
        LicensePage(total=20, skip=20, limit=10, licenses=[]),
    ),
    (
        "licenses.get",
        (LICENSE_KEY,),
        {},
        lambda: v1(STORED),
        "GET",
        f"/api/v1/licenses/{LICENSE_KEY}",
        {},
        None,
        STORED_MODEL,
    ),
    *[
        (
            f"licenses.{action}",
            (LICENSE_KEY,),
            {},
            lambda status=status: v1({**STORED, "status": status}),
            "POST",
            f"/api/v1/licenses/{LICENSE_KEY}/{action}",
            {},
            None,
            dataclasses.replace(STORED_MODEL, status=status),
        )
        for action, status in [
            ("revoke", "revoked"),
            ("suspend", "suspended"),
            ("reinstate", "active"),
        ]
    ],
    (
        "licenses.renew",
        (LICENSE_KEY,),
        {"valid_days": 90},
        lambda: v1({**STORED, "valid_until": "2027-04-01T00:00:00Z"}),
        "POST",
        f"/api/v1/licenses/{LICENSE_KEY}/renew",
        {},
        {"valid_days": 90},
        dataclasses.replace(STORED_MODEL, valid_until=datetime(2027, 4, 1, tzinfo=UTC)),
    ),
    (
        "licenses.signing_keys",
        (),
        {},
        lambda: v1(SIGNING_KEYS),
        "GET",
        "/api/v1/licenses/signing-keys",
        {},
        None,
        SIGNING_KEYS,
    ),
    (
        "customers.me",
        (),
        {},
        lambda: v1(CUSTOMER_ME),
        "GET",
        "/api/v1/customers/me",
        {},
        None,
        Customer(
            id="cust_abc",
            name="ACME Corp",
            email="admin@acme.example",
            plan="business",
            created_at=JAN1,
        ),
    ),
    (
        "customers.stats",
        (),
        {},
        lambda: v1(STATS),
        "GET",
        "/api/v1/customers/stats",
        {},
        None,
        CustomerStats(
            plan="enterprise",
            licenses_generated_month=7,
            licenses_remaining_month=None,
            max_licenses_month=None,
            total_licenses_all_time=12,
            active_licenses=9,
        ),
    ),
    (
        "customers.stats",
        (),
        {},
        lambda: v1(
            {**STATS, "plan": "free", "licenses_remaining_month": 93, "max_licenses_month": 100}
        ),
        "GET",
        "/api/v1/customers/stats",
        {},
        None,
        CustomerStats(
            plan="free",
            licenses_generated_month=7,
            licenses_remaining_month=93,
            max_licenses_month=100,
            total_licenses_all_time=12,
            active_licenses=9,
        ),
    ),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "response", "http_method", "path", "query", "body", "expected"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_method_sends_request_and_parses(
    mode: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    response: Callable[[], httpx.Response],
    http_method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    expected: Any,
) -> None:
    rec = Recorder(response())
    result = call(mode, rec, method, *args, **kwargs)
    assert len(rec.requests) == 1
    request = rec.requests[0]
    assert (request.method, request.url.path) == (http_method, path)
    assert str(request.url).startswith(BASE + "/api/v1/")
    assert dict(request.url.params) == query
    assert request.headers["authorization"] == f"Bearer {KEY}"
    if body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == body
    assert result == expected
    assert type(result) is type(expected)


def test_signing_keys_are_returned_as_served(mode: str) -> None:
    document = {**SIGNING_KEYS, "future_field": {"x": [1, 2]}}
    assert call(mode, Recorder(v1(document)), "licenses.signing_keys") == document


@pytest.mark.parametrize("body", [["keys"], "keys", None])
def test_signing_keys_must_be_an_object(mode: str, body: Any) -> None:
    with pytest.raises(APIError) as info:
        call(mode, Recorder(v1(body)), "licenses.signing_keys")
    assert info.value.code == "INVALID_RESPONSE"


def test_license_key_path_segment_is_escaped(mode: str) -> None:
    rec = Recorder(v1(STORED))
    call(mode, rec, "licenses.get", "../customers/me?x=1")
    call(mode, rec, "licenses.revoke", "a/b")
    call(mode, rec, "licenses.renew", "a b", valid_days=1)
    assert [r.url.raw_path for r in rec.requests] == [
        b"/api/v1/licenses/..%2Fcustomers%2Fme%3Fx%3D1",
        b"/api/v1/licenses/a%2Fb/revoke",
        b"/api/v1/licenses/a%20b/renew",
    ]


def test_v1_bodies_are_not_unwrapped(mode: str) -> None:
    """A {"data": ...} envelope on /api/v1 is a body the SDK cannot read, not one it unwraps."""
    with pytest.raises(APIError) as info:
        call(mode, Recorder(v1({"data": CUSTOMER_ME})), "customers.me")
    assert info.value.code == "INVALID_RESPONSE" and "missing field" in info.value.detail


def test_monthly_quota_is_a_rate_limit_error(mode: str, slept: list[float]) -> None:
    """The month's end is far away: past MAX_RETRY_AFTER, so no sleeping and no retry."""
    rec = Recorder(
        httpx.Response(
            429,
            json={
                "detail": "Monthly limit reached (3 licenses).",
                "code": "RATE_LIMIT_EXCEEDED",
                "retry_after": 1_000_000,
                "request_id": "req_q",
            },
            headers={
                "retry-after": "1000000",
                "x-quota-limit": "3",
                "x-quota-remaining": "0",
            },
        )
    )
    with pytest.raises(RateLimitError) as info:
        call(mode, rec, "licenses.generate", CUSTOMER)
    err = info.value
    assert err.detail == "Monthly limit reached (3 licenses)."
    assert (err.status_code, err.code, err.retry_after) == (429, "RATE_LIMIT_EXCEEDED", 1_000_000)
    assert err.request_id == "req_q"
    assert len(rec.requests) == 1 and slept == []


def test_short_rate_limit_on_generate_is_retried(mode: str, slept: list[float]) -> None:
    rec = Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=2), v1(GENERATED, 201))
    assert call(mode, rec, "licenses.generate", CUSTOMER) == GENERATED_MODEL
    assert slept == [2.0] and len(rec.requests) == 2


@pytest.mark.parametrize(
    ("method", "args", "status", "code", "exc"),
    [
        ("licenses.get", ("QLOCK-NOPE",), 404, "NOT_FOUND", NotFoundError),
        ("licenses.revoke", ("QLOCK-NOPE",), 404, "NOT_FOUND", NotFoundError),
        ("licenses.generate", (CUSTOMER,), 403, "INSUFFICIENT_SCOPE", PermissionDeniedError),
        ("customers.stats", (), 403, "INSUFFICIENT_SCOPE", PermissionDeniedError),
    ],
)
def test_errors_follow_the_common_mapping(
    mode: str, method: str, args: tuple[Any, ...], status: int, code: str, exc: type[APIError]
) -> None:
    with pytest.raises(exc) as info:
        call(mode, Recorder(api_error(status, code)), method, *args)
    assert (info.value.status_code, info.value.code, info.value.request_id) == (
        status,
        code,
        "req_1",
    )


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "attempts"),
    [
        ("licenses.list", (), {}, 3),
        ("licenses.get", (LICENSE_KEY,), {}, 3),
        ("licenses.signing_keys", (), {}, 3),
        ("customers.me", (), {}, 3),
        ("licenses.validate", (LICENSE_KEY, CUSTOMER), {}, 1),
        # Retried with the call's one Idempotency-Key: the server replays a lost answer.
        ("licenses.generate", (CUSTOMER,), {}, 3),
        ("licenses.revoke", (LICENSE_KEY,), {}, 3),
        ("licenses.renew", (LICENSE_KEY,), {"valid_days": 1}, 3),
    ],
)
def test_connection_errors_retry_only_gets(
    mode: str,
    slept: list[float],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempts: int,
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(APIConnectionError):
        call(mode, handler, method, *args, **kwargs)
    assert len(seen) == attempts


# -- licenses.iter ---------------------------------------------------------------------------


def page_answers(total: int, pages: list[list[str]]) -> Callable[[httpx.Request], httpx.Response]:
    """Serves `pages` (license keys) in turn, echoing skip and limit from the query."""
    remaining = list(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        keys = remaining.pop(0)
        return v1(
            {
                "total": total,
                "skip": int(request.url.params["skip"]),
                "limit": int(request.url.params["limit"]),
                "licenses": [{**ROW, "license_key": k} for k in keys],
            }
        )

    return handler


def run_iter(
    mode: str, handler: Callable[[httpx.Request], httpx.Response], **filters: Any
) -> list[str]:
    transport = httpx.MockTransport(handler)
    if mode == "sync":
        with Client(api_key=KEY, base_url=BASE, transport=transport) as client:
            return [row.license_key for row in client.licenses.iter(**filters)]

    async def scenario() -> list[str]:
        async with AsyncClient(api_key=KEY, base_url=BASE, transport=transport) as client:
            return [row.license_key async for row in client.licenses.iter(**filters)]

    return asyncio.run(scenario())


def test_iter_pages_through_everything(mode: str) -> None:
    seen: list[httpx.Request] = []
    serve = page_answers(5, [["k5", "k4"], ["k3", "k2"], ["k1"]])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return serve(request)

    keys = run_iter(mode, handler, page_size=2, status="active", end_customer_id=CUSTOMER)
    assert keys == ["k5", "k4", "k3", "k2", "k1"]
    assert [dict(r.url.params) for r in seen] == [
        {"skip": str(skip), "limit": "2", "status": "active", "end_customer_id": CUSTOMER}
        for skip in (0, 2, 4)
    ]


def test_iter_default_page_size_and_no_filters(mode: str) -> None:
    seen: list[httpx.Request] = []
    serve = page_answers(1, [["k1"]])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return serve(request)

    assert run_iter(mode, handler) == ["k1"]
    assert [dict(r.url.params) for r in seen] == [{"skip": "0", "limit": "1000"}]


def test_iter_drops_rows_repeated_by_new_licenses(mode: str) -> None:
    """A license created mid-iteration pushes k3 onto the second page too."""
    handler = page_answers(5, [["k4", "k3"], ["k3", "k2"], ["k1"]])
    assert run_iter(mode, handler, page_size=2) == ["k4", "k3", "k2", "k1"]


def test_iter_stops_on_an_empty_page(mode: str) -> None:
    """A total that shrank (or lies) cannot make iteration loop forever."""
    handler = page_answers(10, [["k2", "k1"], []])
    assert run_iter(mode, handler, page_size=2) == ["k2", "k1"]


def test_iter_on_nothing(mode: str) -> None:
    assert run_iter(mode, page_answers(0, [[]])) == []


@pytest.mark.parametrize(
    ("total", "skip", "rows", "expected"),
    [
        (5, 0, 2, 2),
        (5, 2, 2, 4),
        (5, 4, 1, None),
        (5, 0, 0, None),
        (0, 0, 0, None),
        (3, 0, 3, None),
    ],
)
def test_next_skip(total: int, skip: int, rows: int, expected: int | None) -> None:
    page = LicensePage.from_dict(
        {"total": total, "skip": skip, "limit": 2, "licenses": [ROW] * rows}
    )
    assert page.next_skip == expected


# -- models ----------------------------------------------------------------------------------


def test_stored_license_is_a_generated_license() -> None:
    lic = License.from_dict(STORED)
    assert isinstance(lic, GeneratedLicense)
    assert lic.metadata == {"order": 42} and lic.signing_kid == "sk_1"


def test_license_repr_leaves_out_file_and_signature() -> None:
    for lic in (GeneratedLicense.from_dict(GENERATED), License.from_dict(STORED)):
        text = repr(lic)
        assert LICENSE_KEY in text
        assert LICENSE_FILE not in text and SIGNATURE not in text


def test_licensing_models_are_immutable() -> None:
    lic = License.from_dict(STORED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lic.status = "revoked"  # type: ignore[misc]
    assert not hasattr(lic, "__dict__")


def test_missing_metadata_is_an_empty_dict() -> None:
    body = {k: v for k, v in STORED.items() if k != "metadata"}
    assert License.from_dict(body).metadata == {}
    assert License.from_dict({**STORED, "metadata": None}).metadata == {}


def test_stats_unlimited() -> None:
    assert CustomerStats.from_dict(STATS).unlimited
    assert not CustomerStats.from_dict({**STATS, "max_licenses_month": 100}).unlimited


def test_a_half_readable_license_is_an_invalid_response(mode: str) -> None:
    broken = {**GENERATED, "valid_until": "not a date"}
    with pytest.raises(APIError) as info:
        call(mode, Recorder(v1(broken, 201)), "licenses.generate", CUSTOMER)
    assert info.value.code == "INVALID_RESPONSE" and info.value.status_code == 201


def test_unknown_license_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown license action"):
        ops.license_action(LICENSE_KEY, "delete")


# -- package surface -------------------------------------------------------------------------


def test_new_models_are_exported() -> None:
    names = {
        "GeneratedLicense",
        "License",
        "LicenseValidation",
        "LicenseSummary",
        "LicensePage",
        "Customer",
        "CustomerStats",
    }
    assert names <= set(qcos.__all__)


def test_offline_verifier_is_exported_lazily() -> None:
    from qcos import licensing

    assert qcos.verify_license_file is licensing.verify_license_file
    assert qcos.LicenseVerification is licensing.LicenseVerification
    assert {"verify_license_file", "LicenseVerification"} <= set(dir(qcos))
    assert "verify_license_file" not in qcos.__all__  # `import *` must not need cryptography
    with pytest.raises(AttributeError, match="no_such_thing"):
        qcos.no_such_thing  # noqa: B018


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_core_sdk_works_without_cryptography() -> None:
    """`import qcos` and the HTTP clients need httpx only; cryptography is for offline checks."""
    code = """
import sys
sys.modules["cryptography"] = None  # as if it were not installed
import qcos
from qcos import *
assert "qcos.licensing" not in sys.modules
qcos.Client(api_key="k", base_url="http://x").licenses
try:
    qcos.verify_license_file
except ModuleNotFoundError as exc:
    assert "cryptography" in str(exc), exc
else:
    raise AssertionError("expected ModuleNotFoundError")
print("ok")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_qcos_does_not_load_cryptography() -> None:
    result = run_python("import sys, qcos; print('cryptography' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
