"""client.licenses / client.customers against the real app, in process (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    Client,
    ConflictError,
    GeneratedLicense,
    License,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
    verify_license_file,
)
from quantumlock.accounts.service import AccountService
from tests.conftest import AccountFixture, MakeAccount

CUSTOMER = "customer@company.com"
SERVER = "http://testserver"


def sdk_for(client: TestClient, key: str, *, max_retries: int = 2) -> Client:
    return Client(api_key=key, base_url=SERVER, http_client=client, max_retries=max_retries)


def test_license_lifecycle(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    gen = sdk.licenses.generate(
        CUSTOMER, features=["premium", "api_access"], valid_days=30, metadata={"order": 42}
    )
    assert type(gen) is GeneratedLicense
    assert re.fullmatch(r"QLOCK-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", gen.license_key)
    assert re.fullmatch(r"[0-9a-f]{128}", gen.quantum_signature)
    assert gen.license_file.startswith("qlf1.")
    assert gen.end_customer_id == CUSTOMER and gen.features == ["premium", "api_access"]
    assert timedelta(days=29) < gen.valid_until - gen.generated_at <= timedelta(days=30)
    assert gen.valid_until.tzinfo is not None

    ok = sdk.licenses.validate(gen.license_key, CUSTOMER)
    assert (ok.valid, ok.code, ok.message) == (True, "VALID", None)
    assert ok.features == ["premium", "api_access"] and ok.expires_at == gen.valid_until
    assert sdk.licenses.validate(gen.license_key, CUSTOMER, features=["premium"]).valid
    missing = sdk.licenses.validate(gen.license_key, CUSTOMER, features=["gold"])
    assert (missing.valid, missing.code) == (False, "FEATURES_MISSING")

    mismatch = sdk.licenses.validate(gen.license_key, "someone@else.com")
    assert (mismatch.valid, mismatch.code) == (False, "CUSTOMER_MISMATCH")
    assert mismatch.end_customer_id == "someone@else.com"
    assert mismatch.features is None and mismatch.expires_at is None and mismatch.message
    unknown = sdk.licenses.validate("QLOCK-0000-0000-0000", CUSTOMER)
    assert (unknown.valid, unknown.code) == (False, "NOT_FOUND")

    stored = sdk.licenses.get(gen.license_key)
    assert type(stored) is License and stored.status == "active"
    assert stored.metadata == {"order": 42} and stored.signing_kid
    assert stored.license_file == gen.license_file and stored.valid_until == gen.valid_until

    suspended = sdk.licenses.suspend(gen.license_key)
    assert suspended.status == "suspended"
    assert sdk.licenses.validate(gen.license_key, CUSTOMER).code == "SUSPENDED"
    assert sdk.licenses.reinstate(gen.license_key).status == "active"
    assert sdk.licenses.validate(gen.license_key, CUSTOMER).code == "VALID"

    renewed = sdk.licenses.renew(gen.license_key, valid_days=10)
    assert renewed.valid_until == gen.valid_until + timedelta(days=10)
    assert sdk.licenses.validate(gen.license_key, CUSTOMER).expires_at == renewed.valid_until

    revoked = sdk.licenses.revoke(gen.license_key)
    assert revoked.status == "revoked"
    gone = sdk.licenses.validate(gen.license_key, CUSTOMER)
    assert (gone.valid, gone.code) == (False, "REVOKED")
    with pytest.raises(ConflictError):
        sdk.licenses.reinstate(gen.license_key)
    with pytest.raises(ConflictError):
        sdk.licenses.renew(gen.license_key, valid_days=1)
    with pytest.raises(NotFoundError):
        sdk.licenses.get("QLOCK-0000-0000-0000")
    with pytest.raises(ValidationError):
        sdk.licenses.renew(gen.license_key, valid_days=0)


def test_list_filters_and_iter(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    mine = [sdk.licenses.generate(CUSTOMER).license_key for _ in range(3)]
    other = sdk.licenses.generate("other@company.com", features=["basic"]).license_key
    sdk.licenses.revoke(mine[0])

    everything = sdk.licenses.list()
    assert (everything.total, everything.skip, everything.limit) == (4, 0, 100)
    assert [row.license_key for row in everything.licenses] == [other, *reversed(mine)]

    page = sdk.licenses.list(skip=1, limit=2)
    assert (page.total, page.skip, page.limit) == (4, 1, 2)
    assert [row.license_key for row in page.licenses] == [mine[2], mine[1]]
    assert page.next_skip == 3

    by_customer = sdk.licenses.list(end_customer_id="other@company.com")
    assert by_customer.total == 1
    row = by_customer.licenses[0]
    assert (row.license_key, row.features, row.status) == (other, ["basic"], "active")

    revoked = sdk.licenses.list(status="revoked", end_customer_id=CUSTOMER)
    assert [r.license_key for r in revoked.licenses] == [mine[0]]
    assert sdk.licenses.list(status="active", end_customer_id=CUSTOMER).total == 2

    assert [r.license_key for r in sdk.licenses.iter(page_size=3)] == [other, *reversed(mine)]
    active = [r.license_key for r in sdk.licenses.iter(status="active", page_size=1)]
    assert active == [other, mine[2], mine[1]]

    with pytest.raises(ValidationError):
        sdk.licenses.list(status="bogus")  # type: ignore[arg-type]


def test_customers(client: TestClient, app: FastAPI, make_account: MakeAccount) -> None:
    acct = make_account(plan="free", name="Tiny Ltd")
    sdk = sdk_for(client, acct.admin_key, max_retries=0)
    me = sdk.customers.me()
    assert (me.id, me.name, me.email, me.plan) == (
        acct.id,
        "Tiny Ltd",
        "admin@acme.example",
        "free",
    )
    assert me.created_at.tzinfo is not None

    with app.state.runtime.unit_of_work() as session:
        # 20/min: each key's share of /api/v1 (half) covers this test's calls.
        AccountService(session).set_limits(acct.id, licenses_per_month=2, requests_per_minute=20)
    app.state.auth.key_cache.clear()
    first = sdk.licenses.generate(CUSTOMER)
    sdk.licenses.generate(CUSTOMER)
    sdk.licenses.revoke(first.license_key)
    stats = sdk.customers.stats()
    assert stats.plan == "free" and not stats.unlimited
    assert (stats.licenses_generated_month, stats.licenses_remaining_month) == (2, 0)
    assert (stats.max_licenses_month, stats.total_licenses_all_time) == (2, 2)
    assert stats.active_licenses == 1

    with pytest.raises(RateLimitError) as info:
        sdk.licenses.generate(CUSTOMER)
    err = info.value
    assert err.detail == "Monthly limit reached (2 licenses)."
    assert (err.status_code, err.code) == (429, "RATE_LIMIT_EXCEEDED")
    assert err.retry_after >= 1


def test_unlimited_stats(client: TestClient, make_account: MakeAccount) -> None:
    sdk = sdk_for(client, make_account(plan="enterprise").admin_key)
    stats = sdk.customers.stats()
    assert stats.unlimited and stats.licenses_remaining_month is None
    assert stats.plan == "enterprise" and stats.licenses_generated_month == 0


def test_signing_keys_verify_the_license_file_offline(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    gen = sdk.licenses.generate(CUSTOMER, features=["premium"])
    document = sdk.licenses.signing_keys()
    key = document["keys"][0]
    assert key["alg"] == "Ed25519+ML-DSA-65" and key["status"] == "active"
    assert key["kid"] == sdk.licenses.get(gen.license_key).signing_kid

    result = verify_license_file(gen.license_file, document, end_customer_id=CUSTOMER)
    assert (result.valid, result.code) == (True, "VALID")
    assert result.license_key == gen.license_key and result.features == ["premium"]
    # Saved to a file and read back, as the docs suggest: still the same answer.
    saved = json.dumps(document)
    assert verify_license_file(gen.license_file, saved, features=["premium"]).valid
    assert verify_license_file(gen.license_file, json.loads(saved)).kid == key["kid"]
    wrong = verify_license_file(gen.license_file, document, end_customer_id="x@y.z")
    assert wrong.code == "CUSTOMER_MISMATCH"


def test_scopes_are_enforced(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    lic = sdk.licenses.generate(CUSTOMER).license_key
    validator = sdk_for(client, sdk.keys.create("edge", scopes=["licenses:validate"]).key)
    assert validator.licenses.validate(lic, CUSTOMER).valid
    assert validator.licenses.signing_keys()["keys"]
    for attempt in (
        lambda: validator.licenses.generate(CUSTOMER),
        lambda: validator.licenses.get(lic),
        lambda: validator.customers.me(),
    ):
        with pytest.raises(PermissionDeniedError) as info:
            attempt()
        assert info.value.code == "INSUFFICIENT_SCOPE"


def test_async_licensing_against_the_app(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient(
                api_key=account.admin_key, base_url=SERVER, transport=transport
            ) as sdk:
                gen = await sdk.licenses.generate(CUSTOMER, features=["premium"], valid_days=5)
                assert (await sdk.licenses.validate(gen.license_key, CUSTOMER)).code == "VALID"
                mismatch = await sdk.licenses.validate(gen.license_key, "a@b.c")
                assert mismatch.code == "CUSTOMER_MISMATCH"
                assert (await sdk.licenses.suspend(gen.license_key)).status == "suspended"
                assert (await sdk.licenses.reinstate(gen.license_key)).status == "active"
                renewed = await sdk.licenses.renew(gen.license_key, valid_days=5)
                assert renewed.valid_until == gen.valid_until + timedelta(days=5)
                assert (await sdk.licenses.revoke(gen.license_key)).status == "revoked"
                gone = await sdk.licenses.validate(gen.license_key, CUSTOMER)
                assert (gone.valid, gone.code) == (False, "REVOKED")

                other = await sdk.licenses.generate("other@company.com")
                page = await sdk.licenses.list(status="active")
                assert [r.license_key for r in page.licenses] == [other.license_key]
                keys = [r.license_key async for r in sdk.licenses.iter(page_size=1)]
                assert keys == [other.license_key, gen.license_key]
                assert (await sdk.licenses.get(gen.license_key)).status == "revoked"

                me = await sdk.customers.me()
                assert me.id == account.id
                stats = await sdk.customers.stats()
                assert (stats.licenses_generated_month, stats.active_licenses) == (2, 1)

                document = await sdk.licenses.signing_keys()
                result = verify_license_file(other.license_file, document)
                assert (result.valid, result.code) == (True, "VALID")

    asyncio.run(scenario())
