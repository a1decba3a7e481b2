"""client.licenses.events and client.audit against the real app, in process."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    AuditEvent,
    Client,
    LicenseEvent,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from quantumlock.core.clock import utcnow
from tests.conftest import AccountFixture

SERVER = "http://testserver"


def sdk_for(client: TestClient, key: str) -> Client:
    return Client(api_key=key, base_url=SERVER, http_client=client, max_retries=0)


def test_license_events_through_the_sdk(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    lic = sdk.licenses.generate("c-1")
    sdk.licenses.suspend(lic.license_key)
    sdk.licenses.reinstate(lic.license_key)
    page = sdk.licenses.events(lic.license_key)
    assert page.total == 3
    assert [e.action for e in page.events] == ["reinstate", "suspend", "generate"]
    first = page.events[-1]
    assert type(first) is LicenseEvent and first.type == "license.generate"
    assert first.at.tzinfo is not None and first.key_id.startswith("key_")
    assert [e.action for e in sdk.licenses.events(lic.license_key, skip=2).events] == ["generate"]
    with pytest.raises(NotFoundError):
        sdk.licenses.events("QLOCK-0000-0000-0000")


def test_audit_through_the_sdk(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    made = sdk.keys.create("reader", scopes=["licenses:read"])
    licenses = [sdk.licenses.generate(f"c-{i}") for i in range(3)]
    sdk.licenses.revoke(licenses[0].license_key)
    page = sdk.audit.list(limit=2)
    assert len(page.events) == 2 and page.has_more and page.next_cursor
    assert all(type(e) is AuditEvent for e in page.events)
    assert page.events[0].type == "license.revoke"
    assert page.events[0].license_key == licenses[0].license_key
    everything = list(sdk.audit.iter(page_size=2))
    assert [e.type for e in everything][:5] == [
        "license.revoke",
        "license.generate",
        "license.generate",
        "license.generate",
        "api_key.create",
    ]
    assert everything[4].object_id == made.id
    only = list(sdk.audit.iter(types=["license.revoke"]))
    assert [e.object_type for e in only] == ["license"]
    assert sdk.audit.list(since=utcnow() + timedelta(minutes=1)).events == []
    with pytest.raises(ValidationError):
        sdk.audit.list(cursor="garbage")
    with pytest.raises(PermissionDeniedError):
        sdk_for(client, made.key).audit.list()


def test_async_audit(app: FastAPI, account: AccountFixture, client: TestClient) -> None:
    sdk_for(client, account.admin_key).licenses.generate("c-1")

    async def run() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SERVER) as http:
            sdk = AsyncClient(api_key=account.admin_key, base_url=SERVER, http_client=http)
            page = await sdk.audit.list()
            key = page.events[0].license_key
            assert key is not None
            events = await sdk.licenses.events(key)
            return [e.type for e in page.events] + [e.type for e in events.events]

    types = asyncio.run(run())
    assert types[0] == "license.generate" and types[-1] == "license.generate"
