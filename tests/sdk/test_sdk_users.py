"""`client.users` (sync and async) against the real app in-process: create with a one-time
link, list and iter, get, update, disable/enable, sessions, password links, delete, and the
typed errors."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import AsyncClient, Client, ConflictError, NotFoundError, User, ValidationError
from tests.conftest import AccountFixture

PASSWORD = "Quiet-river-lamp-42"


def email() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}@example.com"


def test_users_sync(client: TestClient, account: AccountFixture) -> None:
    with Client(api_key=account.admin_key, base_url="http://testserver", http_client=client) as sdk:
        made = sdk.users.create(email(), "member", name="Ada")
        assert isinstance(made.user, User) and made.user.has_password is False
        assert made.set_password_url and "/login/set-password/" in made.set_password_url
        other = sdk.users.create(email(), "viewer", password=PASSWORD)
        assert other.set_password_url is None and other.user.has_password
        page = sdk.users.list(limit=1)
        assert len(page.users) == 1 and page.has_more
        assert {u.id for u in sdk.users.iter(page_size=1)} >= {made.user.id, other.user.id}
        assert sdk.users.get(made.user.id).name == "Ada"
        assert sdk.users.update(made.user.id, role="admin").role == "admin"
        assert sdk.users.disable(made.user.id).status == "disabled"
        assert sdk.users.enable(made.user.id).status == "active"
        assert sdk.users.sessions(other.user.id) == []
        assert sdk.users.revoke_sessions(other.user.id) == 0
        link = sdk.users.password_link(other.user.id)
        assert link.user_id == other.user.id and "/login/set-password/" in link.url
        with pytest.raises(ConflictError):
            sdk.users.create(made.user.email, "viewer")
        with pytest.raises(ValidationError):
            sdk.users.create(email(), "viewer", password="password1234")
        sdk.users.delete(made.user.id)
        with pytest.raises(NotFoundError):
            sdk.users.get(made.user.id)


def test_users_async(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        async with AsyncClient(
            api_key=account.admin_key, base_url="http://testserver", http_client=http
        ) as sdk:
            made = await sdk.users.create(email(), "viewer", password=PASSWORD)
            assert (await sdk.users.get(made.user.id)).email == made.user.email
            seen = [u.id async for u in sdk.users.iter()]
            assert made.user.id in seen
            assert (await sdk.users.update(made.user.id, name="Grace")).name == "Grace"
            assert (await sdk.users.disable(made.user.id)).status == "disabled"
            assert (await sdk.users.enable(made.user.id)).status == "active"
            assert await sdk.users.sessions(made.user.id) == []
            assert (await sdk.users.password_link(made.user.id)).url
            await sdk.users.delete(made.user.id)
            with pytest.raises(NotFoundError):
                await sdk.users.get(made.user.id)
        await http.aclose()

    asyncio.run(scenario())
