"""Resource groups (`client.licenses`, `.customers`; `.keys` in _keys.py). The twins only
dispatch.

A new capability group (quantum, say) is a set of builders in
`_operations.py`, one `_SyncResource` and one `_AsyncResource` subclass here, and one
attribute on each client.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from qcos import _operations as ops
from qcos._audit import LicenseEventPage, license_events
from qcos._licensing_models import (
    Customer,
    CustomerStats,
    GeneratedLicense,
    License,
    LicensePage,
    LicenseSummary,
    LicenseValidation,
)
from qcos._types import LicenseStatus

if TYPE_CHECKING:
    from qcos._client import AsyncClient, Client


# The server's largest page: `iter` fetches as few pages as it can.
ITER_PAGE_SIZE = 1000


class _SyncResource:
    def __init__(self, client: Client) -> None:
        self._client = client


class _AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


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
        """Issue a license to `end_customer_id` (`valid_days` default 365).

        Counts against the monthly quota (live mode); `client.last_response.quota` then
        shows what is left. The answer holds the signed offline file (`license_file`).

        Safe to retry: the call sends an Idempotency-Key (`idempotency_key`, else a new UUID)
        on every attempt, so one call makes at most one license and spends one quota unit.

        Raises:
            ConflictError: `idempotency_key` was used with other arguments (409).
            RateLimitError: the monthly license quota is spent, or too many requests (429).
            ValidationError: a bad customer id, feature, `valid_days` or metadata (400).
            PermissionDeniedError: the key lacks `licenses:write` (403).
            QuantumUnavailableError: no entropy source can deliver (503).
            AuthenticationError: the key is unknown, expired or revoked (401).
            APIConnectionError: the server could not be reached (or APITimeoutError).
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
        """Check a license online. An invalid license is a result (`valid=False` with a
        `code`: NOT_FOUND, EXPIRED, REVOKED, SUSPENDED, ...), not an exception.

        Raises:
            ValidationError: a malformed request (400).
            PermissionDeniedError: the key lacks `licenses:validate` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.validate_license(license_key, end_customer_id, features))

    def list(
        self,
        *,
        skip: int | None = None,
        limit: int | None = None,
        end_customer_id: str | None = None,
        status: LicenseStatus | None = None,
    ) -> LicensePage:
        """One page of licenses, newest first (`limit` 1-1000); `next_skip` gives the next
        page's `skip`, or use `iter()`.

        Raises:
            ValidationError: `skip`, `limit` or `status` out of range (400).
            PermissionDeniedError: the key lacks `licenses:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.list_licenses(skip, limit, end_customer_id, status))

    def iter(
        self,
        *,
        end_customer_id: str | None = None,
        status: LicenseStatus | None = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> Iterator[LicenseSummary]:
        """Every matching license, newest first, fetched page by page as you go.

        Raises:
            ValidationError: a bad `status` or `page_size` (400).
            PermissionDeniedError: the key lacks `licenses:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        seen: set[str] = set()
        skip: int | None = 0
        while skip is not None:
            page = self.list(
                skip=skip, limit=page_size, end_customer_id=end_customer_id, status=status
            )
            yield from ops.unseen(page, seen)
            skip = page.next_skip

    def get(self, license_key: str) -> License:
        """One license with its status, metadata and signed offline file.

        Raises:
            NotFoundError: no such license in this account and mode (404).
            PermissionDeniedError: the key lacks `licenses:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.get_license(license_key))

    def revoke(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        """Revoke a license. Final: a revoked license cannot be reinstated.

        Raises:
            NotFoundError: no such license in this account and mode (404).
            ConflictError: the license's status does not allow it (409).
            PermissionDeniedError: the key lacks `licenses:write` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.license_action(license_key, "revoke"), idempotency_key=idempotency_key
        )

    def suspend(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        """Suspend a license until `reinstate` (validation answers SUSPENDED meanwhile).

        Raises:
            NotFoundError: no such license in this account and mode (404).
            ConflictError: the license's status does not allow it (409).
            PermissionDeniedError: the key lacks `licenses:write` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.license_action(license_key, "suspend"), idempotency_key=idempotency_key
        )

    def reinstate(self, license_key: str, *, idempotency_key: str | None = None) -> License:
        """Make a suspended license active again.

        Raises:
            NotFoundError: no such license in this account and mode (404).
            ConflictError: the license's status does not allow it (409).
            PermissionDeniedError: the key lacks `licenses:write` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.license_action(license_key, "reinstate"), idempotency_key=idempotency_key
        )

    def renew(
        self, license_key: str, *, valid_days: int, idempotency_key: str | None = None
    ) -> License:
        """Extend by `valid_days` from the later of now and the current expiry.

        Raises:
            ValidationError: `valid_days` out of range (400).
            NotFoundError: no such license in this account and mode (404).
            ConflictError: the license is revoked (409).
            PermissionDeniedError: the key lacks `licenses:write` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(
            ops.renew_license(license_key, valid_days), idempotency_key=idempotency_key
        )

    def signing_keys(self) -> dict[str, Any]:
        """The public-key document, as served: pass it to `verify_license_file` unchanged.

        Raises:
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.signing_keys())

    def events(
        self, license_key: str, *, skip: int | None = None, limit: int | None = None
    ) -> LicenseEventPage:
        """The license's lifecycle events (who generated, suspended, renewed… it, and
        when), newest first.

        Raises:
            NotFoundError: no such license in this account and mode (404).
            ValidationError: `skip` or `limit` out of range (400).
            PermissionDeniedError: the key lacks `licenses:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(license_events(license_key, skip, limit))


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
        skip: int | None = None,
        limit: int | None = None,
        end_customer_id: str | None = None,
        status: LicenseStatus | None = None,
    ) -> LicensePage:
        return await self._client._run(ops.list_licenses(skip, limit, end_customer_id, status))

    async def iter(
        self,
        *,
        end_customer_id: str | None = None,
        status: LicenseStatus | None = None,
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

    async def events(
        self, license_key: str, *, skip: int | None = None, limit: int | None = None
    ) -> LicenseEventPage:
        return await self._client._run(license_events(license_key, skip, limit))


class Customers(_SyncResource):
    """`client.customers`: the calling vendor's own account (scope `account:read`)."""

    def me(self) -> Customer:
        """The calling vendor's account: id, name, email, plan.

        Raises:
            PermissionDeniedError: the key lacks `account:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.customer_me())

    def stats(self) -> CustomerStats:
        """This month's license usage against the plan's quota, and overall counts.

        Raises:
            PermissionDeniedError: the key lacks `account:read` (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._client._run(ops.customer_stats())


class AsyncCustomers(_AsyncResource):
    """`async_client.customers`: the awaitable twin of `Customers`."""

    async def me(self) -> Customer:
        return await self._client._run(ops.customer_me())

    async def stats(self) -> CustomerStats:
        return await self._client._run(ops.customer_stats())


def share_docs(sync: type, twin: type) -> None:
    """Give each method of an async twin its sync method's docstring (Raises included), so
    `help()` on either shows the same text, written once."""
    for name, method in vars(twin).items():
        if callable(method) and not name.startswith("_") and not method.__doc__:
            method.__doc__ = getattr(sync, name).__doc__


for _sync, _twin in ((Licenses, AsyncLicenses), (Customers, AsyncCustomers)):
    share_docs(_sync, _twin)
