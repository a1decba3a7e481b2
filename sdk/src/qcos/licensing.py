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

Every refusal names the check that failed in `reason` (the 429's `reason` is spelled the
same way), and `message` says what to do; `code` stays the coarse online vocabulary, so code
matching on it keeps working:

    code               reason                    the check that failed
    SIGNATURE_INVALID  malformed                 not `qlf1.<payload>.<sig>.<sig>`, or a payload
                                                 that is not a license's JSON object
    SIGNATURE_INVALID  unknown_kid               the file's `kid` is not in the keys document
                                                 (another account's key, or a retired one)
    SIGNATURE_INVALID  bad_ed25519_signature     the Ed25519 signature does not verify
    SIGNATURE_INVALID  bad_ml_dsa_signature      the ML-DSA-65 signature does not verify
    SIGNATURE_INVALID  bad_signatures            neither does (the payload was changed)
    SIGNATURE_INVALID  wrong_mode                a test file checked against live keys, or the
                                                 reverse (or a key vouching for another mode)
    TEST_MODE          wrong_mode                a genuine test file, without allow_test
    CUSTOMER_MISMATCH  customer_mismatch         issued to another end customer
    EXPIRED            expired                   past `valid_until`
    FEATURES_MISSING   features_missing          lacks a required feature (`missing_features`)
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
LIVE, TEST = "live", "test"

# Which check refused the file (LicenseVerification.reason); None when valid.
MALFORMED = "malformed"
UNKNOWN_KID = "unknown_kid"
BAD_ED25519_SIGNATURE = "bad_ed25519_signature"
BAD_ML_DSA_SIGNATURE = "bad_ml_dsa_signature"
BAD_SIGNATURES = "bad_signatures"
WRONG_MODE = "wrong_mode"
CUSTOMER_MISMATCH = "customer_mismatch"
EXPIRED = "expired"
FEATURES_MISSING = "features_missing"

_KEYS_DOCUMENT = "GET /api/v1/licenses/signing-keys"
_MESSAGES = {
    MALFORMED: "Not a license file: expected qlf1.<payload>.<Ed25519 signature>.<ML-DSA-65"
    " signature> (base64url), with a license's JSON object as payload. Was it cut or"
    " re-encoded? Copy it again from licenses.get(...).license_file.",
    UNKNOWN_KID: "Signed by key {kid}, which the keys document does not list: use the current"
    f" document ({_KEYS_DOCUMENT}) of the account that issued the file. If that key was"
    " retired, its files no longer verify: renewing the license issues a file signed by the"
    " current key.",
    BAD_ED25519_SIGNATURE: "The Ed25519 signature does not verify (the ML-DSA-65 one does):"
    " the file's Ed25519 signature was altered or damaged.",
    BAD_ML_DSA_SIGNATURE: "The ML-DSA-65 signature does not verify (the Ed25519 one does):"
    " the file's ML-DSA-65 signature was altered or damaged.",
    BAD_SIGNATURES: "Neither signature verifies: the payload was changed after signing, or"
    " the file is damaged.",
    CUSTOMER_MISMATCH: "License does not belong to this end customer.",
    EXPIRED: "License has expired.",
}
_WRONG_MODE = {
    # A file of one mode checked against the other mode's keys (its kid is not there).
    TEST: "A test-mode (sandbox) license file, checked against live signing keys: it is"
    " never valid in production. Verify it against the test-mode keys document with"
    " allow_test=True (--test in the CLI), or issue a live license.",
    LIVE: "A live license file, checked against test-mode signing keys: verify it against the"
    " live keys document (fetched with a live key).",
}
_TEST_MODE = "A test-mode license: accept it with allow_test=True (--test in the CLI)."
_KEY_MODE = "Signed by a {key_mode}-mode key, but the file says mode {mode!r}: refused."


@dataclass(frozen=True, slots=True)
class LicenseVerification:
    """The same `valid`/`code` vocabulary as online validation, plus TEST_MODE: a genuine
    test-mode (sandbox) file, refused because `allow_test` was not given. `reason` names the
    check that failed (None when valid; see the module's table); `missing_features`, with
    FEATURES_MISSING, the required features the file lacks. The payload's fields are filled
    in only once both signatures held."""

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
    reason: str | None = None
    missing_features: list[str] | None = None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(reason: str, message: str, code: str = "SIGNATURE_INVALID") -> LicenseVerification:
    """A file whose signatures did not hold (or were not checked): nothing of it is trusted."""
    return LicenseVerification(False, code, message, reason=reason)


def _result(
    code: str,
    payload: Mapping[str, Any],
    *,
    reason: str | None = None,
    message: str | None = None,
    missing: list[str] | None = None,
) -> LicenseVerification:
    return LicenseVerification(
        valid=code == "VALID",
        code=code,
        message=message,
        license_key=payload.get("license_key"),
        account_id=payload.get("account_id"),
        mode=payload.get("mode"),
        end_customer_id=payload.get("end_customer_id"),
        features=list(payload.get("features") or []),
        valid_until=parse_datetime(payload.get("valid_until")),
        issued_at=parse_datetime(payload.get("issued_at")),
        kid=payload.get("kid"),
        reason=reason,
        missing_features=missing,
    )


def _key_table(public_keys: Mapping[str, Any] | str | bytes) -> dict[str, Mapping[str, Any]]:
    document = json.loads(public_keys) if isinstance(public_keys, str | bytes) else public_keys
    keys = document.get("keys", []) if isinstance(document, Mapping) else []
    # Entries that cannot be a key (no string kid or mode) are skipped, not raised on.
    return {
        k["kid"]: k
        for k in keys
        if isinstance(k, Mapping)
        and isinstance(k.get("kid"), str)
        and isinstance(k.get("mode", ""), str)
        and k.get("alg") == ALG
        and k.get("status") != "retired"
    }


def _verifies(public: Any, name: str, signature: bytes, message: bytes) -> bool:
    key_type = ed25519.Ed25519PublicKey if name == "Ed25519" else mldsa.MLDSA65PublicKey
    try:
        key_type.from_public_bytes(_unb64(public[name])).verify(signature, message)
    except (InvalidSignature, KeyError, ValueError, TypeError, binascii.Error):
        return False
    return True


def _signature_failure(
    key: Mapping[str, Any], message: bytes, ed_sig: bytes, pq_sig: bytes
) -> str | None:
    """Which signature did not verify (a reason), or None when both do. Both are always
    checked, so the reason says whether one signature or the signed payload was changed."""
    public = key.get("public_keys") or {}
    ed_ok = _verifies(public, "Ed25519", ed_sig, message)
    pq_ok = _verifies(public, "ML-DSA-65", pq_sig, message)
    if ed_ok and pq_ok:
        return None
    if ed_ok:
        return BAD_ML_DSA_SIGNATURE
    return BAD_ED25519_SIGNATURE if pq_ok else BAD_SIGNATURES


def _decode(license_file: str) -> tuple[list[str], dict[str, Any], bytes, bytes] | None:
    parts = license_file.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    try:
        payload_bytes, ed_sig, pq_sig = (_unb64(p) for p in parts[1:])
        payload = json.loads(payload_bytes)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("kid"), str):
        return None
    return parts, payload, ed_sig, pq_sig


def _unknown_kid(
    kid: str, claimed_mode: Any, keys: Mapping[str, Mapping[str, Any]]
) -> LicenseVerification:
    # The payload is not trusted here: its mode only picks the more helpful message.
    modes = {k.get("mode") for k in keys.values()} - {None}
    if claimed_mode in _WRONG_MODE and modes and claimed_mode not in modes:
        return _refused(WRONG_MODE, _WRONG_MODE[claimed_mode])
    return _refused(UNKNOWN_KID, _MESSAGES[UNKNOWN_KID].format(kid=repr(kid)))


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

    `allow_test`: accept test-mode (sandbox) files too; never for production checks.
    An invalid file is a result (`valid` False, `code`, `reason`, `message`), not an error."""
    decoded = _decode(license_file)
    if decoded is None:
        return _refused(MALFORMED, _MESSAGES[MALFORMED])
    parts, payload, ed_sig, pq_sig = decoded
    kid = payload["kid"]
    keys = _key_table(public_keys)
    key = keys.get(kid)
    if key is None:
        return _unknown_kid(kid, payload.get("mode"), keys)
    failed = _signature_failure(key, f"{parts[0]}.{parts[1]}".encode(), ed_sig, pq_sig)
    if failed is not None:
        return _refused(failed, _MESSAGES[failed])
    # Only now is the payload trustworthy.
    mode = payload.get("mode")
    if mode not in (LIVE, TEST):
        return _refused(MALFORMED, _MESSAGES[MALFORMED])
    key_mode = key.get("mode", mode)
    if key_mode != mode:  # a key of one mode vouching for another
        return _refused(WRONG_MODE, _KEY_MODE.format(key_mode=key_mode, mode=mode))
    if mode != LIVE and not allow_test:
        return _result("TEST_MODE", payload, reason=WRONG_MODE, message=_TEST_MODE)
    if end_customer_id is not None and payload.get("end_customer_id") != end_customer_id:
        return _result(
            "CUSTOMER_MISMATCH",
            payload,
            reason=CUSTOMER_MISMATCH,
            message=_MESSAGES[CUSTOMER_MISMATCH],
        )
    valid_until = parse_datetime(payload.get("valid_until"))
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:  # a naive `now` (datetime.utcnow()) is taken as UTC
        moment = moment.replace(tzinfo=UTC)
    if valid_until is None or valid_until <= moment:
        return _result("EXPIRED", payload, reason=EXPIRED, message=_MESSAGES[EXPIRED])
    granted = set(payload.get("features") or [])
    missing = [f for f in dict.fromkeys(features) if f not in granted]
    if missing:
        return _result(
            "FEATURES_MISSING",
            payload,
            reason=FEATURES_MISSING,
            message=f"License does not include the required features: {', '.join(missing)}.",
            missing=missing,
        )
    return _result("VALID", payload)
