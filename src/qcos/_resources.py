"""Resource groups (`client.keys`, …). Sync and async twins only dispatch operations.

A new capability group (licenses, customers, quantum) is a set of builders in
`_operations.py`, one `_SyncResource` and one `_AsyncResource` subclass here, and one
attribute on each client.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from qcos import _operations as ops
from qcos._models import ApiKey, CreatedKey

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client


class _SyncResource:
    def __init__(self, client: Client) -> None:
        self._client = client


class _AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class Keys(_SyncResource):
    """`client.keys`: API key management (scope `admin`)."""

    def list(self) -> builtins.list[ApiKey]:
        return self._client._run(ops.list_keys())

    def create(
        self,
        name: str,
        *,
        scopes: builtins.list[str] | None = None,
        expires_in: str | None = None,
        type: str | None = None,
    ) -> CreatedKey:
        return self._client._run(ops.create_key(name, scopes, expires_in, type))

    def revoke(self, key_id: str) -> None:
        self._client._run(ops.revoke_key(key_id))

    def rotate(self, key_id: str, *, grace_period: str = "24h") -> CreatedKey:
        return self._client._run(ops.rotate_key(key_id, grace_period))


class AsyncKeys(_AsyncResource):
    """`async_client.keys`: the awaitable twin of `Keys`."""

    async def list(self) -> builtins.list[ApiKey]:
        return await self._client._run(ops.list_keys())

    async def create(
        self,
        name: str,
        *,
        scopes: builtins.list[str] | None = None,
        expires_in: str | None = None,
        type: str | None = None,
    ) -> CreatedKey:
        return await self._client._run(ops.create_key(name, scopes, expires_in, type))

    async def revoke(self, key_id: str) -> None:
        await self._client._run(ops.revoke_key(key_id))

    async def rotate(self, key_id: str, *, grace_period: str = "24h") -> CreatedKey:
        return await self._client._run(ops.rotate_key(key_id, grace_period))
