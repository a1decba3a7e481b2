"""`client.keys`: API key management (/api/v2/keys). The twins only dispatch."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from typing import Any

from qcos import _operations as ops
from qcos._models import ApiKey, CreatedKey, KeyPage
from qcos._resources import ITER_PAGE_SIZE, _AsyncResource, _SyncResource, share_docs
from qcos._types import KeyType, Scope


class Keys(_SyncResource):
    """`client.keys`: API key management (every method needs a key with scope `admin`).

    A test-mode key sees and manages test-mode keys only. Secrets are returned once, by
    `create` and `rotate` (`CreatedKey.key`); `list`, `get` and `update` never show them.
    """

    def list(self, *, limit: int = 100, cursor: str | None = None) -> KeyPage:
        """One page of unrevoked keys, newest first (`limit` 1-1000).

        The page is a list of `ApiKey`; pass its `next_cursor` as `cursor` for the next
        one while `has_more` is true, or let `iter()` walk them all.

        Raises:
            ValidationError: `limit` out of range, or a `cursor` not from a page (400).
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.list_keys(limit, cursor))

    def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> Iterator[ApiKey]:
        """Every unrevoked key, newest first, fetched page by page as you go.

        Raises:
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, key_id: str) -> ApiKey:
        """One key, revoked ones included (see `revoked_at`); never its secret.

        Raises:
            NotFoundError: no such key in this account and mode (404; also another
                account's key).
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.get_key(key_id))

    def update(
        self,
        key_id: str,
        *,
        name: str | None = None,
        scopes: builtins.list[Scope] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ApiKey:
        """Rename a key, narrow its scopes or replace its metadata (None: unchanged).

        `scopes` can only take scopes away: one the key does not hold, directly or through
        an implied scope (`admin` implies all), is refused; make a new key for more. A
        narrowing applies at once, on every server node. `metadata` replaces the whole
        object (`{}` clears it).

        Raises:
            ValidationError: a scope would be gained, an empty or unknown scope list, or a
                bad name or metadata (400).
            NotFoundError: no such key in this account and mode (404).
            ConflictError: the key is revoked (409).
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.update_key(key_id, name, scopes, metadata))

    def create(
        self,
        name: str,
        *,
        scopes: builtins.list[Scope] | None = None,
        expires_in: str | None = None,
        type: KeyType | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedKey:
        """Create a key; its secret (`.key`) is in this answer only.

        Without `scopes`, a live or test key gets every scope but `admin`; with them (and
        no `type`), a restricted key. `expires_in` (e.g. "90d") may not reach past the
        calling key's own expiry; omitted, the new key expires with the calling key, if
        that expires.

        Raises:
            ValidationError: a bad name, scope, type, `expires_in` or metadata (400).
            PermissionDeniedError: the calling key lacks `admin`, or a scope it does not
                hold itself, or a test key asks for a live one (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.create_key(name, scopes, expires_in, type, metadata),
            idempotency_key=idempotency_key,
        )

    def revoke(self, key_id: str) -> None:
        """Revoke a key now, on every server node; revoking twice is harmless.

        Raises:
            NotFoundError: no such key in this account and mode (404).
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        self._client._run(ops.revoke_key(key_id))

    def rotate(
        self, key_id: str, *, grace_period: str | None = None, idempotency_key: str | None = None
    ) -> CreatedKey:
        """A new secret for the key; the old one keeps working for `grace_period`.

        Raises:
            ValidationError: a bad `grace_period` (400).
            NotFoundError: no such key in this account and mode (404).
            ConflictError: the key is revoked or expired (409).
            PermissionDeniedError: the calling key lacks `admin` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.rotate_key(key_id, grace_period), idempotency_key=idempotency_key
        )


class AsyncKeys(_AsyncResource):
    """`async_client.keys`: the awaitable twin of `Keys`."""

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> KeyPage:
        return await self._client._run(ops.list_keys(limit, cursor))

    async def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> AsyncIterator[ApiKey]:
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor)
            for key in page:
                yield key
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get(self, key_id: str) -> ApiKey:
        return await self._client._run(ops.get_key(key_id))

    async def update(
        self,
        key_id: str,
        *,
        name: str | None = None,
        scopes: builtins.list[Scope] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ApiKey:
        return await self._client._run(ops.update_key(key_id, name, scopes, metadata))

    async def create(
        self,
        name: str,
        *,
        scopes: builtins.list[Scope] | None = None,
        expires_in: str | None = None,
        type: KeyType | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedKey:
        return await self._client._run(
            ops.create_key(name, scopes, expires_in, type, metadata),
            idempotency_key=idempotency_key,
        )

    async def revoke(self, key_id: str) -> None:
        await self._client._run(ops.revoke_key(key_id))

    async def rotate(
        self, key_id: str, *, grace_period: str | None = None, idempotency_key: str | None = None
    ) -> CreatedKey:
        return await self._client._run(
            ops.rotate_key(key_id, grace_period), idempotency_key=idempotency_key
        )


share_docs(Keys, AsyncKeys)
