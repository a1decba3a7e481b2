"""Resource groups (`client.keys`, …). Sync and async twins only dispatch operations."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from qcos import _operations as ops
from qcos._models import ApiKey, CreatedKey

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client


class Keys:
    def __init__(self, client: Client) -> None:
        self._client = client

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


class AsyncKeys:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

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
