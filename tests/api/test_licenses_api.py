"""Licensing through the app: shapes, validation codes, lifecycle, quotas, test mode, files."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from qcos.licensing import verify_license_file
from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc
from quantumlock.entropy.sources import qiskit_installed
from quantumlock.licensing.models import License
from quantumlock.licensing.service import LicenseService
from quantumlock.settings import Settings
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import AccountFixture, MakeAccount, bearer

GEN = "/api/v1/licenses/generate"
VAL = "/api/v1/licenses/validate"


def generate(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    payload = {
        "end_customer_id": "customer@company.com",
        "features": ["premium", "api_access"],
        **body,
    }
    resp = client.post(GEN, json=payload, headers=bearer(key))
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def validate(
    client: TestClient,
    key: str,
    license_key: str,
    customer: str = "customer@company.com",
    **extra: Any,
) -> dict[str, Any]:
    resp = client.post(
        VAL,
        json={"license_key": license_key, "end_customer_id": customer, **extra},
        headers=bearer(key),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_generate_matches_the_reference_shape(client: TestClient, account: AccountFixture) -> None:
    resp = client.post(
        GEN,
        headers=bearer(account.admin_key),
        json={
            "end_customer_id": "customer@company.com",
            "features": ["premium", "api_access"],
            "valid_days": 365,
            "metadata": {"company": "ACME Corp", "plan": "enterprise"},
        },
    )
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {
        "license_key",
        "quantum_signature",
        "end_customer_id",
        "features",
        "valid_until",
        "quantum_verified",
        "qcos_fidelity",
        "security_level",
        "generated_at",
        "license_file",
    }
    assert re.fullmatch(r"QLOCK-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", body["license_key"])
    assert re.fullmatch(r"[0-9a-f]{128}", body["quantum_signature"])
    assert body["features"] == ["premium", "api_access"]
    # Honest: the key's bits came from the first healthy source of the default list
    # (qcos_api has no URL here): the simulator when installed, else the OS CSPRNG.
    assert body["quantum_verified"] is False and body["qcos_fidelity"] is None
    assert body["security_level"] == (
        "QUANTUM_SIMULATED" if qiskit_installed() else "CRYPTOGRAPHIC"
    )
    assert body["valid_until"].endswith("Z") and body["generated_at"].endswith("Z")
    assert resp.headers["x-quota-limit"] == "100000"
    assert resp.headers["x-quota-remaining"] == "99999"
    assert int(resp.headers["x-quota-reset"]) > 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"end_customer_id": ""},
        {"end_customer_id": "x" * 257},
        {"end_customer_id": "c", "valid_days": 0},
        {"end_customer_id": "c", "valid_days": 3651},
        {"end_customer_id": "c", "valid_days": "soon"},
        {"end_customer_id": "c", "features": ["f"] * 101},
        {"end_customer_id": "c", "features": ["x" * 65]},
        {"end_customer_id": "c", "features": [""]},
        {"end_customer_id": "c", "features": "premium"},
        {"end_customer_id": "c", "metadata": ["not", "an", "object"]},
        {"end_customer_id": "c", "metadata": {"blob": "x" * (16 * 1024)}},
        {"end_customer_id": "c", "surprise": 1},
    ],
)
def test_generate_rejects_bad_input(
    client: TestClient, account: AccountFixture, body: dict[str, Any]
) -> None:
    assert_error(
        client.post(GEN, json=body, headers=bearer(account.admin_key)), 400, "VALIDATION_ERROR"
    )


def test_validation_codes(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    lic = generate(client, key)["license_key"]
    ok = validate(client, key, lic)
    assert ok == {
        "valid": True,
        "end_customer_id": "customer@company.com",
        "quantum_verified": False,
        "features": ["premium", "api_access"],
        "expires_at": ok["expires_at"],
        "message": None,
        "code": "VALID",
    }
    assert ok["expires_at"].endswith("Z")
    assert validate(client, key, lic.lower())["code"] == "VALID"  # keys are case-insensitive
    assert validate(client, key, "QLOCK-0000-0000-0000")["code"] == "NOT_FOUND"
    mismatch = validate(client, key, lic, "someone@else.com")
    assert mismatch["code"] == "CUSTOMER_MISMATCH" and mismatch["valid"] is False
    assert mismatch["features"] is None and mismatch["expires_at"] is None and mismatch["message"]
    assert validate(client, key, lic, features=["premium"])["code"] == "VALID"
    assert validate(client, key, lic, features=["premium", "gold"])["code"] == "FEATURES_MISSING"
    assert client.post(f"/api/v1/licenses/{lic}/suspend", headers=bearer(key)).status_code == 200
    assert validate(client, key, lic)["code"] == "SUSPENDED"
    assert client.post(f"/api/v1/licenses/{lic}/reinstate", headers=bearer(key)).status_code == 200
    assert validate(client, key, lic)["code"] == "VALID"
    assert client.post(f"/api/v1/licenses/{lic}/revoke", headers=bearer(key)).status_code == 200
    revoked = validate(client, key, lic)
    assert revoked == {
        **revoked,
        "valid": False,
        "code": "REVOKED",
        "message": "License has been revoked.",
    }


def test_expired(client: TestClient, app: FastAPI, account: AccountFixture) -> None:
    lic = generate(client, account.admin_key, valid_days=1)["license_key"]
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        row = svc.get(Actor(account.id, "live", "t"), lic)
        later = as_utc(row.valid_until) + timedelta(seconds=1)
        result = svc.validate(account.id, "live", lic, "customer@company.com", now=later)
    assert result.code == "EXPIRED" and result.message == "License has expired."


def test_a_row_changed_behind_the_service_is_signature_invalid(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    lic = generate(client, account.admin_key, features=["basic"])["license_key"]
    with app.state.runtime.unit_of_work() as session:
        session.execute(
            update(License).where(License.license_key == lic).values(features=["basic", "premium"])
        )
        session.commit()
    assert validate(client, account.admin_key, lic)["code"] == "SIGNATURE_INVALID"


def test_scopes(client: TestClient, account: AccountFixture) -> None:
    lic = generate(client, account.admin_key)["license_key"]
    validator = create_key(client, account.admin_key, scopes=["licenses:validate"])["key"]
    assert validate(client, validator, lic)["code"] == "VALID"
    assert_error(
        client.post(GEN, json={"end_customer_id": "c"}, headers=bearer(validator)),
        403,
        "INSUFFICIENT_SCOPE",
    )
    assert_error(
        client.get("/api/v1/licenses", headers=bearer(validator)), 403, "INSUFFICIENT_SCOPE"
    )
    writer = create_key(client, account.admin_key, scopes=["licenses:write"])["key"]
    assert validate(client, writer, lic)["code"] == "VALID"  # write implies validate
    assert client.get("/api/v1/licenses", headers=bearer(writer)).status_code == 200
    reader = create_key(client, account.admin_key, scopes=["licenses:read"])["key"]
    assert client.get(f"/api/v1/licenses/{lic}", headers=bearer(reader)).status_code == 200
    assert_error(
        client.post(f"/api/v1/licenses/{lic}/revoke", headers=bearer(reader)),
        403,
        "INSUFFICIENT_SCOPE",
    )


def test_validation_does_not_consume_quota(client: TestClient, account: AccountFixture) -> None:
    lic = generate(client, account.admin_key)["license_key"]
    before = client.get("/api/v1/customers/stats", headers=bearer(account.admin_key)).json()
    for _ in range(5):
        validate(client, account.admin_key, lic)
    after = client.get("/api/v1/customers/stats", headers=bearer(account.admin_key)).json()
    assert before == after and after["licenses_generated_month"] == 1


def test_list_pagination_and_filters(client: TestClient, account: AccountFixture) -> None:
    keys = [
        generate(client, account.admin_key, end_customer_id=f"c{i % 2}")["license_key"]
        for i in range(5)
    ]
    client.post(f"/api/v1/licenses/{keys[0]}/revoke", headers=bearer(account.admin_key))
    page = client.get("/api/v1/licenses?skip=1&limit=2", headers=bearer(account.admin_key))
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["skip"], body["limit"]) == (5, 1, 2)
    assert [lic["license_key"] for lic in body["licenses"]] == keys[::-1][1:3]
    assert set(body["licenses"][0]) == {
        "license_key",
        "end_customer_id",
        "features",
        "valid_until",
        "created_at",
        "status",
    }
    assert "x-quota-limit" in page.headers
    c0 = client.get("/api/v1/licenses?end_customer_id=c0", headers=bearer(account.admin_key)).json()
    assert c0["total"] == 3
    revoked = client.get(
        "/api/v1/licenses?status=revoked", headers=bearer(account.admin_key)
    ).json()
    assert [lic["license_key"] for lic in revoked["licenses"]] == [keys[0]]
    active = client.get("/api/v1/licenses?status=active", headers=bearer(account.admin_key)).json()
    assert active["total"] == 4
    for bad in ("limit=0", "limit=1001", "skip=-1", "status=dead"):
        assert_error(
            client.get(f"/api/v1/licenses?{bad}", headers=bearer(account.admin_key)),
            400,
            "VALIDATION_ERROR",
        )
    assert client.get("/api/v1/licenses", headers=bearer(account.admin_key)).json()["limit"] == 100


def test_get_lifecycle_and_audit(client: TestClient, app: FastAPI, account: AccountFixture) -> None:
    key = account.admin_key
    created = generate(client, key, valid_days=10, metadata={"seat": 3})
    lic = created["license_key"]
    got = client.get(f"/api/v1/licenses/{lic}", headers=bearer(key)).json()
    assert got["status"] == "active" and got["metadata"] == {"seat": 3}
    assert got["license_file"] == created["license_file"]
    assert_error(
        client.get("/api/v1/licenses/QLOCK-0000-0000-0000", headers=bearer(key)), 404, "NOT_FOUND"
    )
    renewed = client.post(
        f"/api/v1/licenses/{lic}/renew", json={"valid_days": 30}, headers=bearer(key)
    )
    assert renewed.status_code == 200
    assert as_utc_str(renewed.json()["valid_until"]) - as_utc_str(
        created["valid_until"]
    ) == timedelta(days=30)
    assert validate(client, key, lic)["code"] == "VALID"  # re-signed with the new expiry
    assert_error(
        client.post(f"/api/v1/licenses/{lic}/renew", json={"valid_days": 0}, headers=bearer(key)),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        client.post(f"/api/v1/licenses/{lic}/reinstate", headers=bearer(key)), 409, "CONFLICT"
    )
    client.post(f"/api/v1/licenses/{lic}/suspend", headers=bearer(key))
    client.post(f"/api/v1/licenses/{lic}/revoke", headers=bearer(key))
    for action in ("suspend", "reinstate", "revoke"):
        assert_error(
            client.post(f"/api/v1/licenses/{lic}/{action}", headers=bearer(key)), 409, "CONFLICT"
        )
    assert_error(
        client.post(f"/api/v1/licenses/{lic}/renew", json={"valid_days": 1}, headers=bearer(key)),
        409,
        "CONFLICT",
    )
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        events = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache).events(
            Actor(account.id, "live", "x"), lic
        )
        assert [e.action for e in events] == ["generate", "renew", "suspend", "revoke"]
        assert all(e.key_id.startswith("key_") for e in events)


def as_utc_str(text: str) -> datetime:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_renew_extends_from_now_when_already_expired(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    lic = generate(client, account.admin_key, valid_days=1)["license_key"]
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:  # pretend a year went by
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        row = svc.get(Actor(account.id, "live", "t"), lic)
        row.valid_until = as_utc(row.valid_until) - timedelta(days=400)
        session.commit()
        renewed = svc.renew(Actor(account.id, "live", "t"), lic, 10)
        from quantumlock.core.clock import utcnow

        assert abs(as_utc(renewed.valid_until) - (utcnow() + timedelta(days=10))) < timedelta(
            minutes=1
        )


def test_monthly_quota(client: TestClient, app: FastAPI, make_account: MakeAccount) -> None:
    acct = make_account(plan="free")
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(acct.id, licenses_per_month=3)
    app.state.auth.key_cache.clear()
    for _ in range(3):
        generate(client, acct.admin_key)
    resp = client.post(GEN, json={"end_customer_id": "c"}, headers=bearer(acct.admin_key))
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert body["detail"] == "Monthly limit reached (3 licenses)."
    assert resp.headers["x-quota-limit"] == "3" and resp.headers["x-quota-remaining"] == "0"
    assert int(resp.headers["retry-after"]) >= 1
    # Test mode is not counted.
    test_key = create_key(client, acct.admin_key, type="test")["key"]
    generate(client, test_key)
    stats = client.get("/api/v1/customers/stats", headers=bearer(acct.admin_key)).json()
    assert stats == {
        "plan": "free",
        "licenses_generated_month": 3,
        "licenses_remaining_month": 0,
        "max_licenses_month": 3,
        "total_licenses_all_time": 3,
        "active_licenses": 3,
    }


def test_a_generate_that_races_past_the_quota_read_is_refused_by_the_update(
    app: FastAPI,
    make_account: MakeAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The read before signing refuses an account at its limit; a request that read the
    # usage just before another one took the last license must still be refused by the
    # conditional UPDATE, with its license and audit row rolled back.
    from sqlalchemy import func, select

    from quantumlock.accounts.plans import limits_of_account
    from quantumlock.core.errors import RateLimited
    from quantumlock.licensing.models import LicenseEvent
    from quantumlock.licensing.repository import LicenseRepository

    acct = make_account(plan="free")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        AccountService(session).set_limits(acct.id, licenses_per_month=1)
    caller = Actor(acct.id, "live", "t")
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        limits = limits_of_account(AccountService(session).get(acct.id))
        svc.generate(caller, limits, end_customer_id="c", features=[], valid_days=30, metadata={})
        session.commit()  # the service flushes; the caller's unit of work commits
        monkeypatch.setattr(LicenseRepository, "usage", lambda *_: 0)  # the stale read
        with pytest.raises(RateLimited):
            svc.generate(
                caller, limits, end_customer_id="c", features=[], valid_days=30, metadata={}
            )
    with runtime.unit_of_work() as session:
        licenses = select(func.count()).select_from(License).where(License.account_id == acct.id)
        events = (
            select(func.count()).select_from(LicenseEvent).where(LicenseEvent.account_id == acct.id)
        )
        assert session.scalar(licenses) == 1
        assert session.scalar(events) == 1


def test_test_mode_is_a_separate_world(client: TestClient, account: AccountFixture) -> None:
    test_key = create_key(client, account.admin_key, type="test")["key"]
    test_lic = generate(client, test_key)["license_key"]
    live_lic = generate(client, account.admin_key)["license_key"]
    assert validate(client, account.admin_key, test_lic)["code"] == "NOT_FOUND"
    assert validate(client, test_key, live_lic)["code"] == "NOT_FOUND"
    assert_error(
        client.get(f"/api/v1/licenses/{test_lic}", headers=bearer(account.admin_key)),
        404,
        "NOT_FOUND",
    )
    live_list = client.get("/api/v1/licenses", headers=bearer(account.admin_key)).text
    assert test_lic not in live_list and live_lic in live_list
    test_resp = client.get("/api/v1/licenses", headers=bearer(test_key))
    assert live_lic not in test_resp.text and "x-quota-limit" not in test_resp.headers


def test_another_accounts_license_is_not_found_and_unchanged(
    client: TestClient, make_account: MakeAccount
) -> None:
    alice, mallory = make_account(), make_account(name="Mallory")
    lic = generate(client, alice.admin_key)["license_key"]
    before = client.get(f"/api/v1/licenses/{lic}", headers=bearer(alice.admin_key)).json()
    m = bearer(mallory.admin_key)
    for resp in (
        client.get(f"/api/v1/licenses/{lic}", headers=m),
        client.post(f"/api/v1/licenses/{lic}/revoke", headers=m),
        client.post(f"/api/v1/licenses/{lic}/suspend", headers=m),
        client.post(f"/api/v1/licenses/{lic}/reinstate", headers=m),
        client.post(f"/api/v1/licenses/{lic}/renew", json={"valid_days": 5}, headers=m),
    ):
        assert_error(resp, 404, "NOT_FOUND")
    assert validate(client, mallory.admin_key, lic)["code"] == "NOT_FOUND"
    assert lic not in client.get("/api/v1/licenses", headers=m).text
    after = client.get(f"/api/v1/licenses/{lic}", headers=bearer(alice.admin_key)).json()
    assert after == before


def test_offline_file_and_signing_key_rotation(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    key = account.admin_key
    first = generate(client, key)
    keys_doc = client.get("/api/v1/licenses/signing-keys", headers=bearer(key)).json()
    [published] = keys_doc["keys"]
    assert published["alg"] == "Ed25519+ML-DSA-65" and published["status"] == "active"
    assert set(published["public_keys"]) == {"Ed25519", "ML-DSA-65"}
    result = verify_license_file(
        first["license_file"], keys_doc, end_customer_id="customer@company.com"
    )
    assert result.valid and result.code == "VALID" and result.license_key == first["license_key"]
    assert (
        verify_license_file(first["license_file"], keys_doc, end_customer_id="x").code
        == "CUSTOMER_MISMATCH"
    )

    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        new_key = svc.rotate_signing_key(account.id)
    second = generate(client, key)
    keys_doc = client.get("/api/v1/licenses/signing-keys", headers=bearer(key)).json()
    statuses = {k["kid"]: k["status"] for k in keys_doc["keys"]}
    assert statuses == {published["kid"]: "verify_only", new_key.kid: "active"}
    assert verify_license_file(second["license_file"], keys_doc).kid == new_key.kid
    assert verify_license_file(first["license_file"], keys_doc).valid  # old files still verify

    with runtime.unit_of_work() as session:
        secrets = app.state.licensing.secret_cache
        LicenseService(session, runtime.sealer, secrets).retire_signing_key(
            account.id, published["kid"]
        )
    keys_doc = client.get("/api/v1/licenses/signing-keys", headers=bearer(key)).json()
    assert verify_license_file(first["license_file"], keys_doc).code == "SIGNATURE_INVALID"
    assert verify_license_file(second["license_file"], keys_doc).valid


def test_cached_validation_sees_lifecycle_changes_at_once(
    client: TestClient, account: AccountFixture
) -> None:
    lic = generate(client, account.admin_key)["license_key"]
    for _ in range(3):  # the second and third come from the cache
        assert validate(client, account.admin_key, lic)["code"] == "VALID"
    client.post(f"/api/v1/licenses/{lic}/suspend", headers=bearer(account.admin_key))
    assert validate(client, account.admin_key, lic)["code"] == "SUSPENDED"
    client.post(f"/api/v1/licenses/{lic}/reinstate", headers=bearer(account.admin_key))
    assert validate(client, account.admin_key, lic)["code"] == "VALID"
    assert validate(client, account.admin_key, lic, "other@x")["code"] == "CUSTOMER_MISMATCH"
    client.post(f"/api/v1/licenses/{lic}/revoke", headers=bearer(account.admin_key))
    assert validate(client, account.admin_key, lic)["code"] == "REVOKED"


def test_changes_by_another_process_reach_the_cache(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    import time

    lic = generate(client, account.admin_key)["license_key"]
    assert validate(client, account.admin_key, lic)["code"] == "VALID"  # now cached
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:  # as the CLI or another node would
        LicenseService(session, runtime.sealer, app.state.licensing.secret_cache).revoke(
            Actor(account.id, "live", "cli"), lic
        )
    deadline = time.monotonic() + 1.0
    while (
        time.monotonic() < deadline and validate(client, account.admin_key, lic)["code"] == "VALID"
    ):
        time.sleep(0.02)
    assert validate(client, account.admin_key, lic)["code"] == "REVOKED"


def test_a_tampered_row_is_caught_once_its_cache_entry_expires(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    import time

    lic = generate(client, account.admin_key, features=["basic"])["license_key"]
    assert validate(client, account.admin_key, lic)["code"] == "VALID"
    with app.state.runtime.unit_of_work() as session:
        session.execute(
            update(License).where(License.license_key == lic).values(features=["basic", "gold"])
        )
        session.commit()
    time.sleep(app.state.runtime.settings.validation_cache_ttl + 0.1)
    assert validate(client, account.admin_key, lic)["code"] == "SIGNATURE_INVALID"


def test_due_entries_are_reloaded_in_the_background_before_they_expire(
    settings: Settings,
    make_account: MakeAccount,
) -> None:
    """Refresh-ahead, batched: entries that fall due keep being served while one background
    reload picks up rows changed behind the service, so no request waits on a miss."""
    import time

    ttl = 4.0
    app = create_app(settings.model_copy(update={"validation_cache_ttl": ttl}))
    account = make_account()
    with TestClient(app) as client:
        keys = [generate(client, account.admin_key)["license_key"] for _ in range(3)]
        for lic in keys:
            assert validate(client, account.admin_key, lic)["code"] == "VALID"  # cached now
        loaded_at = time.monotonic()
        revoked, tampered, unchanged = keys
        with app.state.runtime.unit_of_work() as session:  # behind the service's back
            session.execute(
                update(License).where(License.license_key == revoked).values(status="revoked")
            )
            session.execute(
                update(License).where(License.license_key == tampered).values(features=["x"])
            )
            session.commit()

        def misses() -> str:
            text = client.get("/metrics").text
            found: list[str] = re.findall(r'validation_cache_total\{result="miss"\} (\S+)', text)
            return found[0]

        assert misses() == "3.0"
        time.sleep(loaded_at + ttl * 0.76 - time.monotonic())  # every entry is now due
        for lic in keys:  # still served from the cache, and queued for a reload
            assert validate(client, account.admin_key, lic)["code"] == "VALID"
        seen: list[str] = []
        # The status is signed too: both rows edited behind the service are refused.
        while time.monotonic() < loaded_at + ttl * 0.97 and seen != ["SIGNATURE_INVALID"] * 2:
            seen = [validate(client, account.admin_key, lic)["code"] for lic in keys[:2]]
            time.sleep(0.02)
        assert seen == ["SIGNATURE_INVALID"] * 2
        assert validate(client, account.admin_key, unchanged)["code"] == "VALID"
        assert misses() == "3.0"  # the reload was the background one, not a miss


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_misses_that_arrive_together_are_loaded_in_one_query(
    settings: Settings,
    client: TestClient,
    account: AccountFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    import httpx

    keys = [generate(client, account.admin_key)["license_key"] for _ in range(20)]
    keys.append("QLOCK-0000-0000-0000")  # no such license: a miss too, answered NOT_FOUND
    batches: list[int] = []
    load_many = LicenseService.load_many_for_validation

    def counting(self: LicenseService, wanted: Any) -> Any:
        batches.append(len(wanted))
        return load_many(self, wanted)

    monkeypatch.setattr(LicenseService, "load_many_for_validation", counting)
    app = create_app(settings)  # a fresh node: nothing cached
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as node:
            answers = await asyncio.gather(
                *(
                    node.post(
                        VAL,
                        json={"license_key": k, "end_customer_id": "customer@company.com"},
                        headers=bearer(account.admin_key),
                    )
                    for k in keys
                )
            )
    assert [a.json()["code"] for a in answers] == ["VALID"] * 20 + ["NOT_FOUND"]
    assert sum(batches) == 21
    assert len(batches) <= 3, batches  # one query per request would be 21


def test_a_batched_load_keeps_accounts_and_modes_apart(
    client: TestClient, app: FastAPI, account: AccountFixture, make_account: Any
) -> None:
    other = make_account(name="Other Corp")
    test_key = create_key(client, account.admin_key, type="test")["key"]
    mine = generate(client, account.admin_key)["license_key"]
    mine_in_test = generate(client, test_key)["license_key"]
    theirs = generate(client, other.admin_key)["license_key"]
    keys = [
        (account.id, "live", mine),
        (account.id, "test", mine_in_test),
        (other.id, "live", theirs),
        (other.id, "live", mine),  # my license, asked for under another account
        (account.id, "test", mine),  # a live license, asked for in test mode
        (account.id, "live", theirs),  # theirs, asked for under mine
    ]
    with app.state.runtime.unit_of_work() as session:
        found = app.state.licensing.service(session).load_many_for_validation(keys)
    assert set(found) == set(keys[:3])
    for (account_id, mode, license_key), (row, _secret) in found.items():
        assert (row.account_id, row.mode, row.license_key) == (account_id, mode, license_key)
    assert found[keys[0]][1] == found[keys[1]][1] != found[keys[2]][1]  # each account's secret
