"""Issue #16, licensing findings, through the real app (SQLite and PostgreSQL):

1. test-mode files are signed with test-mode keys and refused by a live verifier;
5. the status (and a row version) is signed: a row edited back to `active` is refused;
7. license metadata that would break later is refused at the edge, and nothing is stored.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from qcos import Client, ConflictError, verify_license_file
from qcos import License as SdkLicense
from quantumlock.core.actor import Actor
from quantumlock.core.errors import Conflict, NotFound
from quantumlock.licensing import service as service_module
from quantumlock.licensing import signing
from quantumlock.licensing.models import License
from quantumlock.licensing.service import LicenseService
from quantumlock.settings import Settings
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import MASTER_KEY, AccountFixture, bearer
from tests.e2e.conftest import CLI

CUSTOMER = "customer@company.com"
GEN = "/api/v1/licenses/generate"


def sdk_for(client: TestClient, key: str) -> Client:
    return Client(api_key=key, base_url="http://testserver", http_client=client)


def validate(client: TestClient, key: str, license_key: str) -> str:
    resp = client.post(
        "/api/v1/licenses/validate",
        json={"license_key": license_key, "end_customer_id": CUSTOMER},
        headers=bearer(key),
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["code"])


# -- 1. test mode -------------------------------------------------------------------------


def test_a_test_mode_file_is_refused_with_the_live_keys(
    client: TestClient, account: AccountFixture
) -> None:
    live = sdk_for(client, account.admin_key)
    sandbox = sdk_for(client, create_key(client, account.admin_key, type="test")["key"])
    test_file = sandbox.licenses.generate("anyone@else.com", features=["all"], valid_days=3650)
    live_file = live.licenses.generate(CUSTOMER)
    live_doc, test_doc = live.licenses.signing_keys(), sandbox.licenses.signing_keys()

    # A live verifier holds no test key: refused (VALID before the fix), even when asked to
    # allow test mode.
    refused = verify_license_file(test_file.license_file, live_doc, end_customer_id=None)
    assert (refused.valid, refused.code) == (False, "SIGNATURE_INVALID")
    refused = verify_license_file(test_file.license_file, live_doc, allow_test=True)
    assert (refused.valid, refused.code) == (False, "SIGNATURE_INVALID")

    # Each key gets its own mode's document, and the two share no key.
    assert {k["mode"] for k in live_doc["keys"]} == {"live"}
    assert {k["mode"] for k in test_doc["keys"]} == {"test"}
    assert not {k["kid"] for k in live_doc["keys"]} & {k["kid"] for k in test_doc["keys"]}
    # With the test-mode keys: still refused unless test mode is asked for explicitly.
    not_asked = verify_license_file(test_file.license_file, test_doc)
    assert (not_asked.valid, not_asked.code, not_asked.mode) == (False, "TEST_MODE", "test")
    asked = verify_license_file(test_file.license_file, test_doc, allow_test=True)
    assert (asked.valid, asked.code, asked.mode) == (True, "VALID", "test")
    # A live file does not verify under test keys; under live keys as before.
    assert (
        verify_license_file(live_file.license_file, test_doc, allow_test=True).code
        == "SIGNATURE_INVALID"
    )
    assert verify_license_file(live_file.license_file, live_doc, end_customer_id=CUSTOMER).valid

    # A test key relabelled live in a hand-made document still cannot vouch for anything.
    relabelled = {"keys": [{**k, "mode": "live"} for k in test_doc["keys"]]}
    assert (
        verify_license_file(test_file.license_file, relabelled, allow_test=True).code
        == "SIGNATURE_INVALID"
    )
    # A renewed test license is signed with the test keys again.
    renewed = sandbox.licenses.renew(test_file.license_key, valid_days=10)
    assert renewed.signing_kid in {k["kid"] for k in test_doc["keys"]}
    assert verify_license_file(renewed.license_file, test_doc, allow_test=True).valid


def test_a_test_file_signed_with_a_live_key_before_the_fix_is_refused(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """Files already issued the old way (a test payload under the live key) stay refused."""
    live_doc = sdk_for(client, account.admin_key).licenses.signing_keys()
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        key = svc.repo.active_signing_key(account.id, "live")
        assert key is not None
        payload = {
            "v": 1,
            "license_key": "QLOCK-0000-0000-0000",
            "account_id": account.id,
            "mode": "test",
            "end_customer_id": CUSTOMER,
            "features": [],
            "valid_until": "2099-01-01T00:00:00Z",
            "issued_at": "2026-01-01T00:00:00Z",
            "kid": key.kid,
        }
        old_file = signing.license_file(payload, svc._keypair(key))
    # Refused by the live document: its key is published as live, the payload says test.
    for allow_test in (False, True):
        assert verify_license_file(old_file, live_doc, allow_test=allow_test).code == (
            "SIGNATURE_INVALID"
        )
    # A document saved before keys carried a mode: refused as test mode unless asked.
    unmarked = {"keys": [{k: v for k, v in key.items() if k != "mode"} for key in live_doc["keys"]]}
    assert verify_license_file(old_file, unmarked).code == "TEST_MODE"
    payload_with_odd_mode = signing.license_file({**payload, "mode": "demo"}, svc._keypair(key))
    assert (
        verify_license_file(payload_with_odd_mode, live_doc, allow_test=True).code
        == "SIGNATURE_INVALID"
    )


def test_signing_keys_rotate_and_retire_per_mode(app: FastAPI, account: AccountFixture) -> None:
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        live = svc.signing_keys(account.id, "live")[0]
        test = svc.signing_keys(account.id, "test")[0]
        rotated = svc.rotate_signing_key(account.id, "test")
        assert rotated.mode == "test"
        assert [k.status for k in svc.signing_keys(account.id, "live")] == ["active"]
        assert {k.kid: k.status for k in svc.signing_keys(account.id, "test")} == {
            test.kid: "verify_only",
            rotated.kid: "active",
        }
        with pytest.raises(NotFound):  # a test key is not retired as live
            svc.retire_signing_key(account.id, test.kid, "live")
        assert svc.retire_signing_key(account.id, test.kid, "test").status == "retired"
        assert svc.signing_keys(account.id, "live")[0].kid == live.kid


# -- 5. the status is signed ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["revoke", "suspend"])
def test_a_status_set_back_to_active_in_the_database_is_signature_invalid(
    client: TestClient, app: FastAPI, account: AccountFixture, action: str
) -> None:
    lic = sdk_for(client, account.admin_key).licenses.generate(CUSTOMER).license_key
    assert validate(client, account.admin_key, lic) == "VALID"
    resp = client.post(f"/api/v1/licenses/{lic}/{action}", headers=bearer(account.admin_key))
    assert resp.status_code == 200
    assert validate(client, account.admin_key, lic) in {"REVOKED", "SUSPENDED"}
    with app.state.runtime.unit_of_work() as session:  # behind the service's back
        session.execute(update(License).where(License.license_key == lic).values(status="active"))
        session.commit()
    app.state.licensing.validation_cache.invalidate(account.id, lic)  # no waiting for the TTL
    assert validate(client, account.admin_key, lic) == "SIGNATURE_INVALID"


def test_every_change_bumps_the_version_and_re_signs(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    lic = sdk.licenses.generate(CUSTOMER).license_key
    signatures = [sdk.licenses.get(lic).quantum_signature]
    changes: tuple[Callable[[], SdkLicense], ...] = (
        lambda: sdk.licenses.suspend(lic),
        lambda: sdk.licenses.reinstate(lic),
        lambda: sdk.licenses.renew(lic, valid_days=5),
        lambda: sdk.licenses.revoke(lic),
    )
    for change in changes:
        signatures.append(change().quantum_signature)
    assert len(set(signatures)) == 5
    with app.state.runtime.unit_of_work() as session:
        assert session.scalar(select(License.version).where(License.license_key == lic)) == 5
    assert validate(client, account.admin_key, lic) == "REVOKED"


def _make_legacy(app: FastAPI, account_id: str, license_key: str, *, status: str) -> None:
    """What a row stored before the status was signed looks like: version 0, old HMAC."""
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        row = svc.get(Actor(account_id, "live", "t"), license_key)
        row_id = row.id
        legacy = signing.quantum_signature(
            svc._hmac_secret(account_id), service_module._legacy_fields_of(row)
        )
        session.rollback()
        session.execute(
            update(License)
            .where(License.id == row_id)
            .values(version=0, status=status, quantum_signature=legacy)
        )
        session.commit()
    app.state.licensing.validation_cache.invalidate(account_id, license_key)


def test_legacy_rows_are_refused_until_re_signed_and_version_0_is_no_downgrade(
    client: TestClient, app: FastAPI, account: AccountFixture, settings: Settings
) -> None:
    sdk = sdk_for(client, account.admin_key)
    good, tampered = (sdk.licenses.generate(CUSTOMER).license_key for _ in range(2))
    sdk.licenses.revoke(tampered)
    _make_legacy(app, account.id, good, status="active")
    _make_legacy(app, account.id, tampered, status="revoked")
    with app.state.runtime.unit_of_work() as session:  # a legacy row edited after it was signed
        session.execute(
            update(License).where(License.license_key == tampered).values(features=["gold"])
        )
        session.commit()
    # Version 0 is never checked the old, status-free way.
    assert validate(client, account.admin_key, good) == "SIGNATURE_INVALID"

    # `quantumlock init` re-signs the legacy rows whose old signature holds.
    env = {
        **os.environ,
        "QL_DATA_DIR": str(settings.data_dir),
        "QL_DATABASE_URL": settings.resolved_database_url,
        "QL_MASTER_KEY": MASTER_KEY,
    }
    done = subprocess.run(
        [*CLI, "init", "--no-bootstrap"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Re-signed 1 license(s)" in done.stdout and "1 whose signature" in done.stdout
    app.state.licensing.validation_cache.invalidate(account.id, good)
    app.state.licensing.validation_cache.invalidate(account.id, tampered)
    assert validate(client, account.admin_key, good) == "VALID"
    assert validate(client, account.admin_key, tampered) == "SIGNATURE_INVALID"
    with app.state.runtime.unit_of_work() as session:
        versions = dict(
            session.execute(
                select(License.license_key, License.version).where(
                    License.license_key.in_([good, tampered])
                )
            ).all()
        )
    assert versions == {good: 1, tampered: 0}


def test_concurrent_changes_to_one_license_cannot_both_apply(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    lic = sdk_for(client, account.admin_key).licenses.generate(CUSTOMER).license_key
    runtime = app.state.runtime
    caller = Actor(account.id, "live", "t")
    with runtime.sessions() as second:
        b = LicenseService(second, runtime.sealer, app.state.licensing.secret_cache)
        held = b.get(caller, lic)  # b has read the row, as a concurrent request would
        assert held.version == 1
        with runtime.unit_of_work() as first:  # a's request, committed meanwhile
            a = LicenseService(first, runtime.sealer, app.state.licensing.secret_cache)
            a.suspend(caller, lic)  # version 2
        with pytest.raises(Conflict):  # b's change names version 1
            b.revoke(caller, lic)
    assert validate(client, account.admin_key, lic) == "SUSPENDED"


# -- 16. every change is announced ----------------------------------------------------------


def test_a_renewal_by_another_process_reaches_the_cache_within_a_quarter_second(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    import time

    lic = sdk_for(client, account.admin_key).licenses.generate(CUSTOMER).license_key
    body = {"license_key": lic, "end_customer_id": CUSTOMER}

    def expires_at() -> str:
        resp = client.post(
            "/api/v1/licenses/validate", json=body, headers=bearer(account.admin_key)
        )
        return str(resp.json()["expires_at"])

    before = expires_at()  # cached now
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:  # as the CLI or another node would
        renewed = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache).renew(
            Actor(account.id, "live", "cli"), lic, 90
        )
        want = renewed.valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    while time.monotonic() - started < 1.0 and expires_at() == before:
        time.sleep(0.01)
    assert expires_at() == want != before
    assert time.monotonic() - started < 0.25


# -- 7. metadata --------------------------------------------------------------------------


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


BAD_METADATA = {
    "nan": '{"x": NaN}',
    "infinity": '{"x": -Infinity}',
    "1e400": '{"x": 1e400}',
    "lone surrogate": '{"x": "\\ud800"}',
    "nested 256 deep": _deep(256),
    "nested 33 deep": _deep(33),  # the metadata object itself is the first level
    "over 16 KiB": '{"x": "' + "y" * (16 * 1024) + '"}',
    "integer past 64 bits": '{"x": ' + str(2**64) + "}",
}


@pytest.mark.parametrize("metadata", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_metadata_that_would_break_later_is_refused_and_nothing_is_stored(
    client: TestClient, account: AccountFixture, metadata: str
) -> None:
    body = '{"end_customer_id": "c", "metadata": ' + metadata + "}"
    resp = client.post(
        GEN,
        content=body.encode(),
        headers={**bearer(account.admin_key), "Content-Type": "application/json"},
    )
    assert_error(resp, 400, "VALIDATION_ERROR")
    listing = client.get("/api/v1/licenses", headers=bearer(account.admin_key)).json()
    assert listing["total"] == 0
    stats = client.get("/api/v1/customers/stats", headers=bearer(account.admin_key))
    assert stats.json()["licenses_generated_month"] == 0


def test_metadata_at_the_limits_is_stored_and_read_back(
    client: TestClient, account: AccountFixture
) -> None:
    nested: Any = 1
    for _ in range(31):  # 31 levels inside the metadata object: 32 in all
        nested = {"a": nested}
    metadata = {"n": nested, "big": 2**63 - 1, "f": 1.5, "s": "é✓"}
    resp = client.post(
        GEN, json={"end_customer_id": "c", "metadata": metadata}, headers=bearer(account.admin_key)
    )
    assert resp.status_code == 201, resp.text
    key = resp.json()["license_key"]
    for action in ("suspend", "reinstate"):
        assert (
            client.post(
                f"/api/v1/licenses/{key}/{action}", headers=bearer(account.admin_key)
            ).status_code
            == 200
        )
    got = client.get(f"/api/v1/licenses/{key}", headers=bearer(account.admin_key)).json()
    assert got["metadata"] == metadata and got["status"] == "active"


def test_conflicts_are_sdk_conflicts(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    lic = sdk.licenses.generate(CUSTOMER).license_key
    sdk.licenses.revoke(lic)
    with pytest.raises(ConflictError):
        sdk.licenses.renew(lic, valid_days=1)
