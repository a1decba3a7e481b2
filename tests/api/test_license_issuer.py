"""The API's generate path (licensing/issuer.py): on the event loop, over the asyncio group
commit, with the signing material cached per account and mode.

The quota stays exact under concurrency; a rotated signing key stops signing at once (in the
process that rotated it and, through the change feed, in the others); an account whose quota
is spent is refused before anything is signed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.core.actor import Actor
from quantumlock.core.errors import RateLimited
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.licensing.issuer import LicenseIssuer
from quantumlock.licensing.service import Draft, LicenseService
from quantumlock.licensing.writer import AsyncLicenseWriter, LicenseWriter
from tests.api.test_license_writer import _counts, _limits
from tests.api.test_licenses_api import generate
from tests.conftest import AccountFixture


def _issuer(app: FastAPI, **kwargs: Any) -> LicenseIssuer:
    runtime = app.state.runtime
    return LicenseIssuer(
        partial(unit_of_work, runtime.sessions),
        runtime.sealer,
        app.state.licensing.secret_cache,
        runtime.entropy.draw,
        AsyncLicenseWriter(LicenseWriter(runtime.sessions)),
        **kwargs,
    )


async def _generate(issuer: LicenseIssuer, caller: Actor, limits: Any) -> tuple[str, Any]:
    try:
        lic, quota = await issuer.generate(
            caller, limits, end_customer_id="c", features=["f"], valid_days=30, metadata={}
        )
    except RateLimited as exc:
        return "error", exc
    return "ok", (lic.license_key, quota)


def test_concurrent_generates_on_the_event_loop_spend_the_quota_exactly(
    app: FastAPI, make_account: Callable[..., AccountFixture]
) -> None:
    acct = make_account(plan="free")
    limits = _limits(app, acct.id, 15)
    caller = Actor(acct.id, "live", "t")

    async def run() -> list[tuple[str, Any]]:
        issuer = _issuer(app)
        try:
            return await asyncio.gather(*(_generate(issuer, caller, limits) for _ in range(40)))
        finally:
            await issuer.aclose()

    outcomes = asyncio.run(run())
    granted = [o[1] for o in outcomes if o[0] == "ok"]
    assert len(granted) == 15
    assert all(isinstance(o[1], RateLimited) for o in outcomes if o[0] == "error")
    assert len({key for key, _ in granted}) == 15
    # Each request is told the count its own license made (1..15, each once).
    assert sorted(quota.used for _, quota in granted) == list(range(1, 16))
    assert _counts(app, acct.id) == (15, 15, 15)


def test_a_spent_quota_is_refused_without_signing_until_the_limit_changes(
    app: FastAPI, make_account: Callable[..., AccountFixture], monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = make_account(plan="free")
    caller = Actor(acct.id, "live", "t")
    built: list[int] = []
    build = Draft.build

    def counting(self: Draft) -> Any:
        built.append(1)
        return build(self)

    monkeypatch.setattr(Draft, "build", counting)

    async def run() -> list[str]:
        issuer = _issuer(app)
        try:
            limits = _limits(app, acct.id, 1)
            first = await _generate(issuer, caller, limits)
            refused = await _generate(issuer, caller, limits)  # signed, refused by the UPDATE
            before = len(built)
            again = await _generate(issuer, caller, limits)  # refused before signing
            assert len(built) == before
            raised = _limits(app, acct.id, 2)  # the operator raises the limit: room again
            after = await _generate(issuer, caller, raised)
            return [first[0], refused[0], again[0], after[0]]
        finally:
            await issuer.aclose()

    assert asyncio.run(run()) == ["ok", "error", "error", "ok"]
    assert _counts(app, acct.id) == (2, 2, 2)


def _kid(license_file: str) -> str:
    import base64
    import json

    payload = license_file.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["kid"])


def test_a_rotated_signing_key_stops_signing_at_once(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    first = generate(client, account.admin_key)
    runtime = app.state.runtime
    # As `quantumlock licenses rotate-signing-key` does it: the service, in a unit of work.
    with runtime.unit_of_work() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        new_kid = svc.rotate_signing_key(account.id, "live").kid
    assert _kid(first["license_file"]) != new_kid
    assert _kid(generate(client, account.admin_key)["license_file"]) == new_kid
