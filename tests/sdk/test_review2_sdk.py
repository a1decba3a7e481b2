"""Review 2: SDK defaults that go out although the caller chose none."""

from __future__ import annotations

import contextlib

import httpx

from tests.sdk.conftest import Recorder, call


def test_license_events_sends_no_paging_it_was_not_given(mode: str) -> None:
    rec = Recorder(httpx.Response(200, json={"total": 0, "skip": 0, "limit": 50, "events": []}))
    with contextlib.suppress(Exception):  # only the request that went out matters here
        call(mode, rec, "licenses.events", "QLOCK-AAAA-BBBB-CCCC")
    assert rec.requests, "no request went out"
    assert dict(rec.requests[0].url.params) == {}


import base64  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from qcos.licensing import ALG, verify_license_file  # noqa: E402


def _b(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FILE = (
    "qlf1."
    + _b(json.dumps({"kid": "k1", "mode": "live"}).encode())
    + "."
    + _b(b"x")
    + "."
    + _b(b"y")
)


@pytest.mark.parametrize(
    "keys",
    [
        {"keys": [{"alg": ALG, "status": "active"}]},  # an entry without its kid
        {"keys": [{"alg": ALG, "kid": "k2", "mode": ["live"]}]},  # a mode that is not a string
    ],
    ids=["entry-without-kid", "unhashable-mode"],
)
def test_offline_verifier_refuses_a_damaged_keys_document_without_raising(
    keys: dict[str, object],
) -> None:
    result = verify_license_file(FILE, keys)
    assert result.valid is False


def test_offline_verifier_with_a_naive_now_does_not_raise() -> None:
    from datetime import datetime

    from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

    ed = ed25519.Ed25519PrivateKey.generate()
    pq = mldsa.MLDSA65PrivateKey.generate()
    payload = {"kid": "k1", "mode": "live", "license_key": "QLOCK-1", "end_customer_id": "c",
               "features": ["a"], "valid_until": "2030-01-01T00:00:00Z",
               "issued_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    head = "qlf1." + _b(json.dumps(payload).encode())
    signed = f"{head}.{_b(ed.sign(head.encode()))}.{_b(pq.sign(head.encode()))}"
    keys = {"keys": [{"kid": "k1", "alg": ALG, "mode": "live", "public_keys": {
        "Ed25519": _b(ed.public_key().public_bytes_raw()),
        "ML-DSA-65": _b(pq.public_key().public_bytes_raw()),
    }}]}  # fmt: skip
    assert verify_license_file(signed, keys).valid
    # datetime.now() / datetime.utcnow() are naive: a TypeError escaped the comparison.
    result = verify_license_file(signed, keys, now=datetime(2026, 6, 1))
    assert result.valid  # or a clean refusal; never a raise
