"""Client and AsyncClient: one request builder and response reader, two transports."""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from qcos import _operations as ops
from qcos._audit import AsyncAudit, Audit
from qcos._errors import (
    _BY_CODE,
    _BY_STATUS,
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    DecodingError,
    QCOSError,
    QuotaExceededError,
    RateLimitError,
    rate_limit_error,
)
from qcos._identity_clients import (
    AsyncOAuthClients,
    AsyncServiceAccounts,
    OAuthClients,
    ServiceAccounts,
)
from qcos._keys import AsyncKeys, Keys
from qcos._models import Me
from qcos._oauth import AsyncTokens, ClientCredentials, SyncTokens, resolve_credentials
from qcos._operations import Operation
from qcos._quantum import AsyncQuantum, Quantum
from qcos._resources import AsyncCustomers, AsyncLicenses, Customers, Licenses
from qcos._response import ResponseInfo
from qcos._sso import AsyncSso, Sso
from qcos._users import AsyncUsers, Users
from qcos._version import __version__

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# A server asking us to wait longer than this gets its RateLimitError at once instead.
MAX_RETRY_AFTER = 60.0
CONNECTION_BACKOFF = 0.5
_USER_AGENT = f"qcos-python/{__version__}"


def _seconds(value: Any) -> int | None:
    # Retry-After may also be an HTTP date; the server never sends one, so such values fall
    # through to the body's retry_after rather than being parsed.
    try:
        seconds = math.ceil(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if seconds >= 0 else None


def _retry_after(response: httpx.Response, body: Any) -> int:
    from_header = _seconds(response.headers.get("retry-after"))
    if from_header is not None:
        return from_header
    from_body = _seconds(body.get("retry_after")) if isinstance(body, dict) else None
    # A 429 without any hint (a proxy, say) still gets a short, bounded pause.
    return from_body if from_body is not None else 1


def _transport_error(exc: httpx.RequestError) -> APIConnectionError:
    # Every failure httpx reports for a request becomes the SDK's own: callers catch qcos.X
    # and never need to import httpx. The httpx exception stays available as __cause__.
    kind: type[APIConnectionError]
    if isinstance(exc, httpx.TimeoutException):
        kind, code = APITimeoutError, "TIMEOUT"
    elif isinstance(exc, httpx.DecodingError):
        kind, code = DecodingError, "DECODING_ERROR"
    else:
        kind, code = APIConnectionError, "CONNECTION_ERROR"
    return kind(f"{type(exc).__name__}: {exc}", code=code)


def error_from_response(response: httpx.Response) -> QCOSError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        detail = str(body.get("detail") or response.reason_phrase or "error")
        code = str(body.get("code") or "UNKNOWN")
        request_id = body.get("request_id") or response.headers.get("x-request-id")
    else:
        detail = (str(body)[:200] or response.reason_phrase) or "error"
        code = "UNKNOWN"
        request_id = response.headers.get("x-request-id")
    common: dict[str, Any] = {
        "status_code": response.status_code,
        "code": code,
        "request_id": request_id,
        "body": body,
    }
    if response.status_code == 429:
        return rate_limit_error(detail, retry_after=_retry_after(response, body), **common)
    by_code = _BY_CODE.get(code)
    if by_code is not None:
        return by_code(detail, **common)
    return _BY_STATUS.get(response.status_code, APIError)(detail, **common)


def _invalid_response(response: httpx.Response, reason: str, body: Any = None) -> APIError:
    # A 2xx the SDK cannot read (a proxy's HTML page, a missing field) must still surface as a
    # QCOSError, never as a bare KeyError from deep inside a model.
    return APIError(
        f"unexpected response body: {reason}",
        status_code=response.status_code,
        code="INVALID_RESPONSE",
        request_id=response.headers.get("x-request-id"),
        body=body,
    )


def _check_one_of(transport: object, http_client: object) -> None:
    # A transport next to a ready-made client would be silently ignored; say so instead.
    if transport is not None and http_client is not None:
        raise ConfigurationError(
            "Pass either transport= or http_client=, not both.", code="INVALID_CONFIG"
        )


class _BaseClient:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("QCOS_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.last_response: ResponseInfo | None = None
        credential = resolve_credentials(api_key, client_id, client_secret, scopes)
        # Client credentials (qcos._oauth): the subclass makes the token source.
        self._client_credentials: ClientCredentials | None = None
        if isinstance(credential, ClientCredentials):
            self._client_credentials = credential
            self._api_key = ""
            return
        key = credential
        if not key:
            raise ConfigurationError(
                "No API key: pass api_key=... or set QCOS_API_KEY.", code="NO_API_KEY"
            )
        # Sent in a header: printable ASCII only (a pasted key with a non-breaking space or a
        # newline would otherwise fail deep in the transport, with the key in the exception).
        if not key.isascii() or not key.isprintable() or key != key.strip():
            raise ConfigurationError(
                "The API key has a character no key has (non-ASCII, space or control): "
                "check how it was copied.",
                code="BAD_API_KEY",
            )
        self._api_key = key

    def __repr__(self) -> str:  # never show the key, the secret or a token
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _headers(self, token: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token or self._api_key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }

    @staticmethod
    def _idempotency_key(op: Operation[Any], given: str | None) -> str | None:
        """The key one logical call sends on every attempt: the caller's, else a new UUID
        for an operation the server takes one on (a retry then never acts twice)."""
        if given is not None:
            if not op.keyed:
                raise TypeError(f"{op.method} {op.path} takes no idempotency_key")
            return given
        return str(uuid.uuid4()) if op.keyed else None

    def _build(
        self, op: Operation[Any], idempotency_key: str | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = self._headers(token)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        kwargs: dict[str, Any] = {
            "method": op.method,
            "url": self.base_url + op.path,
            "headers": headers,
        }
        if op.json is not None:
            kwargs["json"] = op.json
        if op.params:
            kwargs["params"] = op.params
        return kwargs

    def _read(self, op: Operation[T], response: httpx.Response) -> T:
        # Kept before anything can raise: after an error, it still says what came back.
        self.last_response = ResponseInfo.of(response)
        # Redirects are not followed, so a 3xx is as unexpected as a 4xx here.
        if not response.is_success:
            raise error_from_response(response)
        body: Any = None
        if response.status_code != 204 and response.content:
            try:
                body = response.json()
            except ValueError as exc:
                raise _invalid_response(response, "not JSON", response.text[:500]) from exc
        try:
            return op.parse(body["data"] if op.unwrap and body is not None else body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Neither the body nor the parser's message goes into the error: a half-readable
            # create/rotate answer still holds a new key's secret.
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else type(exc).__name__
            raise _invalid_response(response, reason) from exc

    def _delay_after_error(
        self, op: Operation[Any], error: QCOSError, attempt: int, *, keyed: bool = False
    ) -> float | None:
        """Seconds to wait before trying again, or None to give up and raise.

        `keyed`: the attempts carry one Idempotency-Key, so a lost answer is safe to ask for
        again (the server replays it), and a 409 IDEMPOTENCY_KEY_IN_USE (the first attempt
        is still running) is worth waiting out.
        """
        if attempt >= self.max_retries:
            return None
        if isinstance(error, QuotaExceededError):
            return None  # no retry helps before the reset date
        if isinstance(error, RateLimitError):
            return float(error.retry_after) if error.retry_after <= MAX_RETRY_AFTER else None
        if (
            isinstance(error, APIConnectionError)
            and not isinstance(error, DecodingError)
            and (op.idempotent or keyed)
        ):
            return CONNECTION_BACKOFF * float(1 << attempt)
        if keyed and error.code == "IDEMPOTENCY_KEY_IN_USE":
            return CONNECTION_BACKOFF * float(1 << attempt)
        return None


class Client(_BaseClient):
    """Synchronous client for the QCOS / QuantumLock API.

    `Client(api_key=None, base_url=None)` reads QCOS_API_KEY and QCOS_BASE_URL when they are
    not given. Use it as a context manager, or call `close()`.

    `Client(client_id=..., client_secret=..., scopes=None)` (or QCOS_CLIENT_ID and
    QCOS_CLIENT_SECRET) authenticates with OAuth 2.0 client credentials instead: it fetches
    an access token from `/oauth/token`, and refreshes it itself (`qcos.OAuthError` when the
    endpoint refuses). Arguments win over the environment; an API key and client
    credentials together are a ConfigurationError.

    Resources (each a group of methods; `help(client.keys)` and so on):

    * `users` (`qcos.Users`): the account's users: list, iter, get, create, update,
      disable, enable, delete, sessions, revoke_sessions, password_link.
    * `sso.saml` (`qcos.Saml`): the account's SAML single sign-on connection: get,
      configure, update, delete.
    * `keys` (`qcos.Keys`): API keys: list (paged), iter, get, create, update, rotate,
      revoke.
    * `licenses` (`qcos.Licenses`): issue, validate, list, get, revoke, suspend, renew.
    * `customers` (`qcos.Customers`): your own account and its monthly usage.
    * `quantum` (`qcos.Quantum`): entropy, the keystore, encrypt/decrypt, sign/verify,
      key exchange.
    * `me()`: the calling key, its scopes and rate limit.

    `last_response` (`qcos.ResponseInfo`, None before the first answer): the latest answer's
    status, headers, `request_id`, `rate_limit` (X-RateLimit-*) and `quota` (X-Quota-*),
    after a success or an error alike. Shared by everything using this client, so under
    concurrent use it is whichever answer came last.

    Failures raise `qcos.QCOSError` subclasses; rate-limited calls (429 with a short
    Retry-After) and, for calls safe to repeat, lost connections are retried up to
    `max_retries` times.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, client_id, client_secret, scopes)
        _check_one_of(transport, http_client)
        self._tokens = (
            SyncTokens(self._client_credentials, self.base_url, _USER_AGENT)
            if self._client_credentials is not None
            else None
        )
        self._owns_http = http_client is None
        self._http = (
            http_client
            if http_client is not None
            else httpx.Client(timeout=timeout, transport=transport)
        )
        self.keys = Keys(self)
        self.licenses = Licenses(self)
        self.customers = Customers(self)
        self.quantum = Quantum(self)
        self.audit = Audit(self)
        self.oauth_clients = OAuthClients(self)
        self.service_accounts = ServiceAccounts(self)
        self.users = Users(self)
        self.sso = Sso(self)

    def me(self) -> Me:
        """The calling key: its id, account, type, mode, scopes, expiry and rate limit.

        Raises:
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return self._run(ops.me())

    def _run(self, op: Operation[T], *, idempotency_key: str | None = None) -> T:
        key = self._idempotency_key(op, idempotency_key)
        attempt = 0
        renewed = False
        while True:
            try:
                try:
                    token = self._tokens.get(self._http) if self._tokens else None
                    response = self._http.request(**self._build(op, key, token))
                except httpx.RequestError as exc:
                    raise _transport_error(exc) from exc
                if self._tokens and token and response.status_code == 401 and not renewed:
                    renewed = True  # its token was refused: once more with a fresh one
                    self._tokens.invalidate(token)
                    continue
                return self._read(op, response)
            except QCOSError as error:
                delay = self._delay_after_error(op, error, attempt, keyed=key is not None)
                if delay is None:
                    raise
                attempt += 1
                time.sleep(delay)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """Asynchronous client: the same resources and methods as `qcos.Client`, awaited.

    `AsyncClient(api_key=None, base_url=None)` reads QCOS_API_KEY and QCOS_BASE_URL when they
    are not given. Use it as an async context manager, or call `await aclose()`. Client
    credentials (`client_id=`, `client_secret=`, `scopes=`) work as on `qcos.Client`.

    Resources (each a group of awaitable methods; `help(client.keys)` and so on):

    * `users` (`qcos.AsyncUsers`): the account's users (as `Client.users`).
    * `sso.saml` (`qcos.AsyncSaml`): the account's SAML connection (as `Client.sso.saml`).
    * `keys` (`qcos.AsyncKeys`): API keys: list (paged), iter, get, create, update, rotate,
      revoke.
    * `licenses` (`qcos.AsyncLicenses`): issue, validate, list, get, revoke, suspend, renew.
    * `customers` (`qcos.AsyncCustomers`): your own account and its monthly usage.
    * `quantum` (`qcos.AsyncQuantum`): entropy, the keystore, encrypt/decrypt, sign/verify,
      key exchange.
    * `me()`: the calling key, its scopes and rate limit.

    `last_response` (`qcos.ResponseInfo`): the latest answer's status, headers,
    `request_id`, `rate_limit` and `quota`, as on `Client` (under concurrent tasks, whichever
    answer came last).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, client_id, client_secret, scopes)
        _check_one_of(transport, http_client)
        self._tokens = (
            AsyncTokens(self._client_credentials, self.base_url, _USER_AGENT)
            if self._client_credentials is not None
            else None
        )
        self._owns_http = http_client is None
        self._http = (
            http_client
            if http_client is not None
            else httpx.AsyncClient(timeout=timeout, transport=transport)
        )
        self.keys = AsyncKeys(self)
        self.licenses = AsyncLicenses(self)
        self.customers = AsyncCustomers(self)
        self.quantum = AsyncQuantum(self)
        self.audit = AsyncAudit(self)
        self.oauth_clients = AsyncOAuthClients(self)
        self.service_accounts = AsyncServiceAccounts(self)
        self.users = AsyncUsers(self)
        self.sso = AsyncSso(self)

    async def me(self) -> Me:
        """The calling key: its id, account, type, mode, scopes, expiry and rate limit.

        Raises:
            AuthenticationError: the key is unknown, expired or revoked (401).
            RateLimitError: too many requests (429), once retries are spent.
            APIConnectionError: the server could not be reached (or APITimeoutError).
        """
        return await self._run(ops.me())

    async def _run(self, op: Operation[T], *, idempotency_key: str | None = None) -> T:
        key = self._idempotency_key(op, idempotency_key)
        attempt = 0
        renewed = False
        while True:
            try:
                try:
                    token = await self._tokens.get(self._http) if self._tokens else None
                    response = await self._http.request(**self._build(op, key, token))
                except httpx.RequestError as exc:
                    raise _transport_error(exc) from exc
                if self._tokens and token and response.status_code == 401 and not renewed:
                    renewed = True  # its token was refused: once more with a fresh one
                    self._tokens.invalidate(token)
                    continue
                return self._read(op, response)
            except QCOSError as error:
                delay = self._delay_after_error(op, error, attempt, keyed=key is not None)
                if delay is None:
                    raise
                attempt += 1
                await asyncio.sleep(delay)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
