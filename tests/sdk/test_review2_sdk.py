"""Review 2: SDK defaults that go out although the caller chose none."""

from __future__ import annotations

import httpx

from tests.sdk.conftest import Recorder, call


def test_license_events_sends_no_paging_it_was_not_given(mode: str) -> None:
    rec = Recorder(httpx.Response(200, json={"total": 0, "skip": 0, "limit": 50, "events": []}))
    try:
        call(mode, rec, "licenses.events", "QLOCK-AAAA-BBBB-CCCC")
    except Exception:  # noqa: BLE001 - only the request matters here
        pass
    assert rec.requests, "no request went out"
    assert dict(rec.requests[0].url.params) == {}


import base64  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from qcos.licensing import ALG, verify_license_file  # noqa: E402


def _b(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FILE = "qlf1." + _b(json.dumps({"kid": "k1", "mode": "live"}).encode()) + "." + _b(b"x") + "." + _b(b"y")


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
