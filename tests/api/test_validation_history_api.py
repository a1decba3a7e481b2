"""Validation history: each validation is counted in memory on the validation path and the
background flush adds the counts into LicenseValidationDaily (an upsert, on SQLite and
PostgreSQL), per license, UTC day and result code."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.licensing.domain import LicensingDomain
from quantumlock.licensing.models import LicenseValidationDaily
from quantumlock.licensing.repository import LicenseQuery
from quantumlock.licensing.service import LicenseService
from tests.api.test_licenses_api import generate, validate
from tests.conftest import AccountFixture


def licensing(app: FastAPI) -> LicensingDomain:
    domain: LicensingDomain = app.state.licensing
    return domain


def history(app: FastAPI, account_id: str, license_key: str) -> dict[str, int]:
    with app.state.runtime.unit_of_work() as session:
        rows = (
            licensing(app)
            .service(session)
            .validation_history(Actor.operator(account_id), license_key)
        )
        return {f"{r.day} {r.code}": r.count for r in rows}


def today() -> str:
    return utcnow().strftime("%Y-%m-%d")


def test_validations_reach_the_history_after_a_flush(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    lic = generate(client, account.admin_key)["license_key"]
    validate(client, account.admin_key, lic)  # a miss: loaded, then judged
    validate(client, account.admin_key, lic)  # a hit
    validate(client, account.admin_key, lic, customer="someone-else")
    validate(client, account.admin_key, lic, features=["not-granted"])
    validate(client, account.admin_key, "QLOCK-0000-0000-0000")  # NOT_FOUND: no license
    licensing(app).flush_validations()
    day = today()
    assert history(app, account.id, lic) == {
        f"{day} VALID": 2,
        f"{day} CUSTOMER_MISMATCH": 1,
        f"{day} FEATURES_MISSING": 1,
    }
    # A second flush adds to the same rows (the upsert's conflict branch).
    validate(client, account.admin_key, lic)
    licensing(app).flush_validations()
    assert history(app, account.id, lic)[f"{day} VALID"] == 3
    with app.state.runtime.unit_of_work() as session:
        row = session.scalars(
            select(LicenseValidationDaily).where(
                LicenseValidationDaily.code == "VALID",
                LicenseValidationDaily.account_id == account.id,  # the worker's database is shared
            )
        ).one()
        assert row.last_at is not None


def test_concurrent_validations_loaded_in_one_batch_are_all_counted(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    lic = generate(client, account.admin_key)["license_key"]

    def one(_: int) -> Any:
        return validate(client, account.admin_key, lic)["code"]

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(24)))
    assert codes == ["VALID"] * 24
    licensing(app).flush_validations()
    assert history(app, account.id, lic) == {f"{today()} VALID": 24}


def test_a_failed_flush_keeps_the_counts_for_the_next(
    app: FastAPI, client: TestClient, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    lic = generate(client, account.admin_key)["license_key"]

    def broken(self: LicenseService, counts: Any) -> None:
        raise RuntimeError("database gone")

    # Broken before the validations, so the app's own background flush fails too (and puts
    # the counts back) rather than writing them ahead of this test's flushes.
    with monkeypatch.context() as patch:
        patch.setattr(LicenseService, "record_validations", broken)
        validate(client, account.admin_key, lic)
        validate(client, account.admin_key, lic)
        with pytest.raises(RuntimeError):
            licensing(app).flush_validations()
        assert history(app, account.id, lic) == {}
    licensing(app).flush_validations()
    # A background flush may hold the drained counts for a moment: wait for its write.
    deadline = time.monotonic() + 10
    while history(app, account.id, lic) != {f"{today()} VALID": 2} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert history(app, account.id, lic) == {f"{today()} VALID": 2}


def test_the_history_is_the_accounts_own(
    app: FastAPI, client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    lic = generate(client, account.admin_key)["license_key"]
    validate(client, account.admin_key, lic)
    licensing(app).flush_validations()
    other = make_account(name="Other")
    with app.state.runtime.unit_of_work() as session:
        service = licensing(app).service(session)
        with pytest.raises(Exception, match="No license"):
            service.validation_history(Actor.operator(other.id), lic)


def test_search_by_feature_matches_whole_features_whatever_their_characters(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    """The feature filter reads the stored JSON array's text: quotes, backslashes, LIKE
    wildcards and non-ASCII features match only themselves, on SQLite and PostgreSQL."""
    odd = ['say "hi"', "back\\slash", "50%_off", "größe", "plain"]
    made = {f: generate(client, account.admin_key, features=[f])["license_key"] for f in odd}
    both = generate(client, account.admin_key, features=["plain", "größe"])["license_key"]
    with app.state.runtime.unit_of_work() as session:
        service = licensing(app).service(session)

        def found(feature: str) -> set[str]:
            query = LicenseQuery(feature=feature)
            _, rows = service.search(Actor.operator(account.id), query, skip=0, limit=50)
            return {r.license_key for r in rows}

        for feature in odd:
            expected = {made[feature]} | ({both} if feature in ("plain", "größe") else set())
            assert found(feature) == expected, feature
        assert found("50%") == set()
        assert found("%") == set()
        assert found("gr") == set()
        total, _ = service.search(Actor.operator(account.id), LicenseQuery(), skip=0, limit=1)
        assert total == len(odd) + 1
