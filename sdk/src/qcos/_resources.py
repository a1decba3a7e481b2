"""Resource groups (`client.keys`, `.licenses`, `.customers`). The twins only dispatch.

A new capability group (quantum, say) is a set of builders in
`_operations.py`, one `_SyncResource` and one `_AsyncResource` subclass here, and one
attribute on each client.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from qcos import _operations as ops
from qcos._licensing_models import (
    Customer,
    CustomerStats,
    GeneratedLicense,
    License,
    LicensePage,
    LicenseSummary,
    LicenseValidation,
)
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
        idempotency_key: str | None = None,
    ) -> CreatedKey:
        """Create a key. `expires_in` (e.g. "90d") may not reach past the calling key's own
        expiry (400); omitted, the new key expires with the calling key, if that expires."""
        return self._client._run(
            ops.create_key(name, scopes, expires_in, type), idempotency_key=idempotency_key
        )

    def revoke(self, key_id: str) -> None:
        self._client._run(ops.revoke_key(key_id))

    def rotate(
        self, key_id: str, *, grace_period: str = "24h", idempotency_key: str | None = None
    ) -> CreatedKey:
        return self._client._run(
            ops.rotate_key(key_id, grace_period), idempotency_key=idempotency_key
        )


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
        idempotency_key: str | None = None,
    ) -> CreatedKey:
        return await self._client._run(
            ops.create_key(name, scopes, expires_in, type), idempotency_key=idempotency_key
        )

    async def revoke(self, key_id: str) -> None:
        await self._client._run(ops.revoke_key(key_id))

    async def rotate(
        self, key_id: str, *, grace_period: str = "24h", idempotency_key: str | None = None
    ) -> CreatedKey:
        return await self._client._run(
            ops.rotate_key(key_id, grace_period), idempotency_key=idempotency_key
        )


# The server's largest page: `iter` fetches as few pages as it can.
ITER_PAGE_SIZE = 1000


class Licenses(_SyncResource):
    """`client.licenses`: issue, check and manage end-customer licenses (/api/v1)."""

    def generate(
        self,
        end_customer_id: str,
        *,
        features: builtins.list[str] | None = None,
        valid_days: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> GeneratedLicense:
        """Counts against the monthly quota: past it, a RateLimitError.

        Safe to retry: the call sends an Idempotency-Key (`idempotency_key`, else a new UUID)
        on every attempt, so one call makes at most one license and spends one quota unit.
        """
        return self._client._run(
            ops.generate_license(end_customer_id, features, valid_days, metadata),
            idempotency_key=idempotency_key,
        )

    def validate(
        self,
        license_key: str,
        end_customer_id: str,
        *,
        features: builtins.list[str] | None = None,
    ) -> LicenseValidation:
        """An invalid license is a result (`valid=False`, `code=...`), not an exception."""
        return self._client._run(ops.validate_license(license_key, end_customer_id, features))

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        end_customer_id: str | None = None,
        status: str | None = None,
    ) -> LicensePage:
        return self._client._run(ops.list_licenses(skip, limit, end_customer_id, status))

    def iter(
        self,
        *,
        end_customer_id: str | None = None,
        status: str | None = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> Iterator[LicenseSummary]:
        """Every matching license, newest first, fetched page by page as you go."""
        seen: set[str] = set()
        skip: int | None = 0
        while skip is not None:
            page = self.list(
                skip=skip, limit=page_size, end_customer_id=end_customer_id, status=status
            )
            yield from ops.unseen(page, seen)
            skip = page.next_skip

    def get(self, license_key: str) -> License:
        return self._client._run(ops.get_license(license_key))

    def revoke(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        """Final: a revoked license cannot be reinstated."""
        return self._client._run(
            ops.license_action(license_key, "revoke"), idempotency_key=idempotency_key
        )

    def suspend(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        return self._client._run(
            ops.license_action(license_key, "suspend"), idempotency_key=idempotency_key
        )

    def reinstate(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        return self._client._run(
            ops.license_action(license_key, "reinstate"), idempotency_key=idempotency_key
        )

    def renew(
        self, license_key: str, *, valid_days: int, idempotency_key: str | None = None
    ) -> License:
        """Extends from the later of now and the current expiry."""
        return self._client._run(
            ops.renew_license(license_key, valid_days), idempotency_key=idempotency_key
        )

    def signing_keys(self) -> dict[str, Any]:
        """The public-key document, as served: pass it to `verify_license_file` unchanged."""
        return self._client._run(ops.signing_keys())


class AsyncLicenses(_AsyncResource):
    """`async_client.licenses`: the awaitable twin of `Licenses`."""

    async def generate(
        self,
        end_customer_id: str,
        *,
        features: builtins.list[str] | None = None,
        valid_days: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> GeneratedLicense:
        return await self._client._run(
            ops.generate_license(end_customer_id, features, valid_days, metadata),
            idempotency_key=idempotency_key,
        )

    async def validate(
        self,
        license_key: str,
        end_customer_id: str,
        *,
        features: builtins.list[str] | None = None,
    ) -> LicenseValidation:
        return await self._client._run(ops.validate_license(license_key, end_customer_id, features))

    async def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        end_customer_id: str | None = None,
        status: str | None = None,
    ) -> LicensePage:
        return await self._client._run(ops.list_licenses(skip, limit, end_customer_id, status))

    async def iter(
        self,
        *,
        end_customer_id: str | None = None,
        status: str | None = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> AsyncIterator[LicenseSummary]:
        seen: set[str] = set()
        skip: int | None = 0
        while skip is not None:
            page = await self.list(
                skip=skip, limit=page_size, end_customer_id=end_customer_id, status=status
            )
            for row in ops.unseen(page, seen):
                yield row
            skip = page.next_skip

    async def get(self, license_key: str) -> License:
        return await self._client._run(ops.get_license(license_key))

    async def revoke(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        return await self._client._run(
            ops.license_action(license_key, "revoke"), idempotency_key=idempotency_key
        )

    async def suspend(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        return await self._client._run(
            ops.license_action(license_key, "suspend"), idempotency_key=idempotency_key
        )

    async def reinstate(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        return await self._client._run(
            ops.license_action(license_key, "reinstate"), idempotency_key=idempotency_key
        )

    async def renew(
        self, license_key: str, *, valid_days: int, idempotency_key: str | None = None
    ) -> License:
        return await self._client._run(
            ops.renew_license(license_key, valid_days), idempotency_key=idempotency_key
        )

    async def signing_keys(self) -> dict[str, Any]:
        return await self._client._run(ops.signing_keys())


class Customers(_SyncResource):
    """`client.customers`: the calling vendor's own account (scope `account:read`)."""

    def me(self) -> Customer:
        return self._client._run(ops.customer_me())

    def stats(self) -> CustomerStats:
        return self._client._run(ops.customer_stats())


class AsyncCustomers(_AsyncResource):
    """`async_client.customers`: the awaitable twin of `Customers`."""

    async def me(self) -> Customer:
        return await self._client._run(ops.customer_me())

    async def stats(self) -> CustomerStats:
        return await self._client._run(ops.customer_stats())
