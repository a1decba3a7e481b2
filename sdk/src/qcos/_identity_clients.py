"""`client.oauth_clients` and `client.service_accounts`: OAuth clients and service accounts
(every method needs a key with scope `admin`). The twins only dispatch.

A test-mode key sees and manages test-mode ones only. Secrets are returned once, by `create`
and `rotate_secret` (`.client_secret`); `list`, `get` and `update` show `secret_prefix` only.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any, Literal

from qcos import _identity_clients_models as ops
from qcos._identity_clients_models import (
    OAUTH_CLIENTS,
    SERVICE_ACCOUNTS,
    AuthMethod,
    CreatedOAuthClient,
    CreatedServiceAccount,
    GrantType,
    IdTokenAlg,
    OAuthClient,
    OAuthClientPage,
    ServiceAccount,
    ServiceAccountPage,
)
from qcos._resources import ITER_PAGE_SIZE, _AsyncResource, _SyncResource, share_docs
from qcos._types import Scope

Mode = Literal["live", "test"]
Grace = int | timedelta | None

_RAISES = """
        Raises:
            ValidationError: a bad argument (400; `errors` names the field).
            NotFoundError: no such one in this account and mode (404).
            ConflictError: the state does not allow it (409).
            PermissionDeniedError: the calling key lacks `admin`, or a scope it would grant
                (403).
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
"""


class OAuthClients(_SyncResource):
    """`client.oauth_clients`: relying parties of the account's OAuth 2.0 / OIDC provider."""

    def list(self, *, limit: int = 100, cursor: str | None = None) -> OAuthClientPage:
        """One page, newest first (`limit` 1-1000); pass `next_cursor` as `cursor`."""
        return self._client._run(ops.list_oauth_clients(limit, cursor))

    def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> Iterator[OAuthClient]:
        """Every OAuth client, newest first, fetched page by page as you go."""
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, client_id: str) -> OAuthClient:
        """One OAuth client (never its secret)."""
        return self._client._run(ops.get_oauth_client(client_id))

    def create(
        self,
        name: str,
        *,
        redirect_uris: builtins.list[str] | None = None,
        public: bool = False,
        grant_types: builtins.list[GrantType] | None = None,
        scopes: builtins.list[str] | None = None,
        token_endpoint_auth_method: AuthMethod | None = None,
        jwks: dict[str, Any] | None = None,
        mode: Mode | None = None,
        id_token_signed_response_alg: IdTokenAlg | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedOAuthClient:
        """Register a client; its `client_secret` is in this answer only.

        `public=True` makes a public client (PKCE, no secret). `scopes`: API scopes within
        the calling key's plus `openid`, `profile`, `email`, `offline_access`. `jwks` (a JWK
        set of public keys) goes with `token_endpoint_auth_method="private_key_jwt"`.
        `id_token_signed_response_alg`: "ES256" (the server's default) or "RS256", for
        relying parties that verify only RS256 ID tokens.
        """
        body = {
            "name": name,
            "kind": "public" if public else None,
            "redirect_uris": redirect_uris,
            "grant_types": grant_types,
            "scopes": scopes,
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "jwks": jwks,
            "mode": mode,
            "id_token_signed_response_alg": id_token_signed_response_alg,
        }
        return self._client._run(ops.create_oauth_client(body), idempotency_key=idempotency_key)

    def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        redirect_uris: builtins.list[str] | None = None,
        scopes: builtins.list[str] | None = None,
        grant_types: builtins.list[GrantType] | None = None,
        jwks: dict[str, Any] | None = None,
        id_token_signed_response_alg: IdTokenAlg | None = None,
    ) -> OAuthClient:
        """Change what a client may do (None: unchanged); the creation rules apply."""
        body = {
            "name": name,
            "redirect_uris": redirect_uris,
            "scopes": scopes,
            "grant_types": grant_types,
            "jwks": jwks,
            "id_token_signed_response_alg": id_token_signed_response_alg,
        }
        return self._client._run(ops.update_oauth_client(client_id, body))

    def rotate_secret(
        self, client_id: str, *, grace_period: Grace = None, idempotency_key: str | None = None
    ) -> CreatedOAuthClient:
        """A new secret (`.client_secret`, once); the old ones keep working for
        `grace_period` (seconds or a timedelta; default 24 h, at most 7 days; 0: end now)."""
        op = ops.rotate_secret(OAUTH_CLIENTS, client_id, grace_period, CreatedOAuthClient.from_dict)
        return self._client._run(op, idempotency_key=idempotency_key)

    def disable(self, client_id: str) -> OAuthClient:
        """It can no longer get tokens; its tokens are refused on every node."""
        return self._client._run(
            ops.set_status(OAUTH_CLIENTS, client_id, "disable", OAuthClient.from_dict)
        )

    def enable(self, client_id: str) -> OAuthClient:
        """Enable a disabled client again."""
        return self._client._run(
            ops.set_status(OAUTH_CLIENTS, client_id, "enable", OAuthClient.from_dict)
        )

    def delete(self, client_id: str) -> None:
        """Delete it and its secrets, for good."""
        self._client._run(ops.delete(OAUTH_CLIENTS, client_id))


class ServiceAccounts(_SyncResource):
    """`client.service_accounts`: machine identities for the `client_credentials` grant."""

    def list(self, *, limit: int = 100, cursor: str | None = None) -> ServiceAccountPage:
        """One page, newest first (`limit` 1-1000); pass `next_cursor` as `cursor`."""
        return self._client._run(ops.list_service_accounts(limit, cursor))

    def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> Iterator[ServiceAccount]:
        """Every service account, newest first, fetched page by page as you go."""
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, client_id: str) -> ServiceAccount:
        """One service account (never its secret)."""
        return self._client._run(ops.get_service_account(client_id))

    def create(
        self,
        name: str,
        *,
        scopes: builtins.list[Scope],
        mode: Mode | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedServiceAccount:
        """A service account with exactly `scopes` (within the calling key's): `client_id`
        (`service_…`) and `client_secret` (`secret_…`, in this answer only)."""
        return self._client._run(
            ops.create_service_account(name, scopes, mode), idempotency_key=idempotency_key
        )

    def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        scopes: builtins.list[Scope] | None = None,
    ) -> ServiceAccount:
        """Rename it or set its scopes (None: unchanged); its tokens narrow at once."""
        return self._client._run(ops.update_service_account(client_id, name, scopes))

    def rotate_secret(
        self, client_id: str, *, grace_period: Grace = None, idempotency_key: str | None = None
    ) -> CreatedServiceAccount:
        """A new secret (`.client_secret`, once); the old ones keep working for
        `grace_period` (seconds or a timedelta; default 24 h, at most 7 days; 0: end now)."""
        op = ops.rotate_secret(
            SERVICE_ACCOUNTS, client_id, grace_period, CreatedServiceAccount.from_dict
        )
        return self._client._run(op, idempotency_key=idempotency_key)

    def disable(self, client_id: str) -> ServiceAccount:
        """It gets no tokens; its tokens are refused on every node."""
        return self._client._run(
            ops.set_status(SERVICE_ACCOUNTS, client_id, "disable", ServiceAccount.from_dict)
        )

    def enable(self, client_id: str) -> ServiceAccount:
        """Enable a disabled service account again."""
        return self._client._run(
            ops.set_status(SERVICE_ACCOUNTS, client_id, "enable", ServiceAccount.from_dict)
        )

    def delete(self, client_id: str) -> None:
        """Delete it and its secrets, for good."""
        self._client._run(ops.delete(SERVICE_ACCOUNTS, client_id))


class AsyncOAuthClients(_AsyncResource):
    """`async_client.oauth_clients`: the awaitable twin of `OAuthClients`."""

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> OAuthClientPage:
        return await self._client._run(ops.list_oauth_clients(limit, cursor))

    async def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> AsyncIterator[OAuthClient]:
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor)
            for item in page:
                yield item
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get(self, client_id: str) -> OAuthClient:
        return await self._client._run(ops.get_oauth_client(client_id))

    async def create(
        self,
        name: str,
        *,
        redirect_uris: builtins.list[str] | None = None,
        public: bool = False,
        grant_types: builtins.list[GrantType] | None = None,
        scopes: builtins.list[str] | None = None,
        token_endpoint_auth_method: AuthMethod | None = None,
        jwks: dict[str, Any] | None = None,
        mode: Mode | None = None,
        id_token_signed_response_alg: IdTokenAlg | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedOAuthClient:
        body = {
            "name": name,
            "kind": "public" if public else None,
            "redirect_uris": redirect_uris,
            "grant_types": grant_types,
            "scopes": scopes,
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "jwks": jwks,
            "mode": mode,
            "id_token_signed_response_alg": id_token_signed_response_alg,
        }
        return await self._client._run(
            ops.create_oauth_client(body), idempotency_key=idempotency_key
        )

    async def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        redirect_uris: builtins.list[str] | None = None,
        scopes: builtins.list[str] | None = None,
        grant_types: builtins.list[GrantType] | None = None,
        jwks: dict[str, Any] | None = None,
        id_token_signed_response_alg: IdTokenAlg | None = None,
    ) -> OAuthClient:
        body = {
            "name": name,
            "redirect_uris": redirect_uris,
            "scopes": scopes,
            "grant_types": grant_types,
            "jwks": jwks,
            "id_token_signed_response_alg": id_token_signed_response_alg,
        }
        return await self._client._run(ops.update_oauth_client(client_id, body))

    async def rotate_secret(
        self, client_id: str, *, grace_period: Grace = None, idempotency_key: str | None = None
    ) -> CreatedOAuthClient:
        op = ops.rotate_secret(OAUTH_CLIENTS, client_id, grace_period, CreatedOAuthClient.from_dict)
        return await self._client._run(op, idempotency_key=idempotency_key)

    async def disable(self, client_id: str) -> OAuthClient:
        return await self._client._run(
            ops.set_status(OAUTH_CLIENTS, client_id, "disable", OAuthClient.from_dict)
        )

    async def enable(self, client_id: str) -> OAuthClient:
        return await self._client._run(
            ops.set_status(OAUTH_CLIENTS, client_id, "enable", OAuthClient.from_dict)
        )

    async def delete(self, client_id: str) -> None:
        await self._client._run(ops.delete(OAUTH_CLIENTS, client_id))


class AsyncServiceAccounts(_AsyncResource):
    """`async_client.service_accounts`: the awaitable twin of `ServiceAccounts`."""

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> ServiceAccountPage:
        return await self._client._run(ops.list_service_accounts(limit, cursor))

    async def iter(self, *, page_size: int = ITER_PAGE_SIZE) -> AsyncIterator[ServiceAccount]:
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor)
            for item in page:
                yield item
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get(self, client_id: str) -> ServiceAccount:
        return await self._client._run(ops.get_service_account(client_id))

    async def create(
        self,
        name: str,
        *,
        scopes: builtins.list[Scope],
        mode: Mode | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedServiceAccount:
        return await self._client._run(
            ops.create_service_account(name, scopes, mode), idempotency_key=idempotency_key
        )

    async def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        scopes: builtins.list[Scope] | None = None,
    ) -> ServiceAccount:
        return await self._client._run(ops.update_service_account(client_id, name, scopes))

    async def rotate_secret(
        self, client_id: str, *, grace_period: Grace = None, idempotency_key: str | None = None
    ) -> CreatedServiceAccount:
        op = ops.rotate_secret(
            SERVICE_ACCOUNTS, client_id, grace_period, CreatedServiceAccount.from_dict
        )
        return await self._client._run(op, idempotency_key=idempotency_key)

    async def disable(self, client_id: str) -> ServiceAccount:
        return await self._client._run(
            ops.set_status(SERVICE_ACCOUNTS, client_id, "disable", ServiceAccount.from_dict)
        )

    async def enable(self, client_id: str) -> ServiceAccount:
        return await self._client._run(
            ops.set_status(SERVICE_ACCOUNTS, client_id, "enable", ServiceAccount.from_dict)
        )

    async def delete(self, client_id: str) -> None:
        await self._client._run(ops.delete(SERVICE_ACCOUNTS, client_id))


def _with_raises(cls: type) -> None:
    for name, method in vars(cls).items():
        if callable(method) and not name.startswith("_") and method.__doc__:
            method.__doc__ = method.__doc__.rstrip() + "\n" + _RAISES


for _sync, _twin in ((OAuthClients, AsyncOAuthClients), (ServiceAccounts, AsyncServiceAccounts)):
    _with_raises(_sync)
    share_docs(_sync, _twin)
del _sync, _twin
