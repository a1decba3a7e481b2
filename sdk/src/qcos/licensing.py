"""Offline license verification: no network, no server.

    from qcos.licensing import verify_license_file
    keys = json.load(open("signing-keys.json"))      # GET /api/v1/licenses/signing-keys, as served
    result = verify_license_file(license_file, keys, end_customer_id="customer@company.com")
    if result.valid: ...

A file is `qlf1.<payload>.<Ed25519 signature>.<ML-DSA-65 signature>` (base64url parts); it is
accepted only if both signatures verify under a published, non-retired key. An offline
check cannot know about a revocation made after the file was issued: validate online when
you can, and keep license lifetimes short where revocation matters.

Test mode: files issued with a test (sandbox) key are signed with the account's test-mode
signing keys, which only a test key's `signing-keys` document publishes. A file whose
payload `mode` is not "live" is refused (`TEST_MODE`) unless you pass `allow_test=True`;
with it, a "test" file is accepted if it verifies under the test-mode keys you pass (a
"live" file still verifies under live keys). A key published with a `mode` never vouches
for a payload of another mode.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from qcos._models import parse_datetime

PREFIX = "qlf1"
ALG = "Ed25519+ML-DSA-65"

_MESSAGES = {
    "VALID": None,
    "EXPIRED": "License has expired.",
    "CUSTOMER_MISMATCH": "License does not belong to this end customer.",
    "SIGNATURE_INVALID": "License signature is invalid.",
    "FEATURES_MISSING": "License does not include the required features.",
    "TEST_MODE": "A test-mode license: accept it with allow_test=True (--test in the CLI).",
}
LIVE, TEST = "live", "test"


@dataclass(frozen=True, slots=True)
class LicenseVerification:
    """The same `valid`/`code` vocabulary as online validation, plus TEST_MODE: a genuine
    test-mode (sandbox) file, refused because `allow_test` was not given."""

    valid: bool
    code: str
    message: str | None
    license_key: str | None = None
    account_id: str | None = None
    mode: str | None = None
    end_customer_id: str | None = None
    features: list[str] | None = None
    valid_until: datetime | None = None
    issued_at: datetime | None = None
    kid: str | None = None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _result(code: str, payload: Mapping[str, Any] | None = None) -> LicenseVerification:
    if payload is None:
        return LicenseVerification(False, code, _MESSAGES[code])
    return LicenseVerification(
        valid=code == "VALID",
        code=code,
        message=_MESSAGES[code],
        license_key=payload.get("license_key"),
        account_id=payload.get("account_id"),
        mode=payload.get("mode"),
        end_customer_id=payload.get("end_customer_id"),
        features=list(payload.get("features") or []),
        valid_until=parse_datetime(payload.get("valid_until")),
        issued_at=parse_datetime(payload.get("issued_at")),
        kid=payload.get("kid"),
    )


def _key_table(public_keys: Mapping[str, Any] | str | bytes) -> dict[str, Mapping[str, Any]]:
    document = json.loads(public_keys) if isinstance(public_keys, str | bytes) else public_keys
    keys = document.get("keys", []) if isinstance(document, Mapping) else []
    return {
        str(k["kid"]): k
        for k in keys
        if isinstance(k, Mapping) and k.get("alg") == ALG and k.get("status") != "retired"
    }


def _signatures_hold(key: Mapping[str, Any], message: bytes, ed_sig: bytes, pq_sig: bytes) -> bool:
    public = key.get("public_keys") or {}
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(_unb64(public["Ed25519"])).verify(
            ed_sig, message
        )
        mldsa.MLDSA65PublicKey.from_public_bytes(_unb64(public["ML-DSA-65"])).verify(
            pq_sig, message
        )
    except (InvalidSignature, KeyError, ValueError, TypeError, binascii.Error):
        return False
    return True


def verify_license_file(
    license_file: str,
    public_keys: Mapping[str, Any] | str | bytes,
    *,
    end_customer_id: str | None = None,
    now: datetime | None = None,
    features: Sequence[str] = (),
    allow_test: bool = False,
) -> LicenseVerification:
    """Check a license file against the published signing keys, entirely offline.

    `allow_test`: accept test-mode (sandbox) files too; never for production checks."""
    parts = license_file.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return _result("SIGNATURE_INVALID")
    try:
        payload_bytes, ed_sig, pq_sig = (_unb64(p) for p in parts[1:])
        payload = json.loads(payload_bytes)
    except (binascii.Error, ValueError):
        return _result("SIGNATURE_INVALID")
    if not isinstance(payload, dict):
        return _result("SIGNATURE_INVALID")
    key = _key_table(public_keys).get(str(payload.get("kid")))
    message = f"{parts[0]}.{parts[1]}".encode()
    if key is None or not _signatures_hold(key, message, ed_sig, pq_sig):
        return _result("SIGNATURE_INVALID")
    # Only now is the payload trustworthy.
    mode = payload.get("mode")
    if key.get("mode", mode) != mode or mode not in (LIVE, TEST):
        return _result("SIGNATURE_INVALID")  # a key of one mode vouching for another
    if mode != LIVE and not allow_test:
        return _result("TEST_MODE", payload)
    if end_customer_id is not None and payload.get("end_customer_id") != end_customer_id:
        return _result("CUSTOMER_MISMATCH", payload)
    valid_until = parse_datetime(payload.get("valid_until"))
    moment = now or datetime.now(UTC)
    if valid_until is None or valid_until <= moment:
        return _result("EXPIRED", payload)
    if not set(features) <= set(payload.get("features") or []):
        return _result("FEATURES_MISSING", payload)
    return _result("VALID", payload)
