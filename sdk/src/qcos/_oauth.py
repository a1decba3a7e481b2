"""OAuth 2.0 client credentials: the SDK fetches, caches and refreshes its own access token.

`Client(client_id=..., client_secret=...)` (or QCOS_CLIENT_ID / QCOS_CLIENT_SECRET) asks
`POST {base_url}/oauth/token` for a token (grant_type=client_credentials, the client
authenticated with HTTP Basic as RFC 6749 §2.3.1 says), keeps it until REFRESH_MARGIN seconds
before it expires, and fetches the next one itself: under a lock, so many requests needing a
token at once cause one fetch. A request answered 401 with the token it sent gets one more
try with a fresh token (the token may have been revoked, or a node's clock ahead).

Which credential wins: explicit arguments over the environment; an API key and client
credentials given together (both as arguments, or both in the environment) is a
ConfigurationError rather than a guess. Neither the secret nor a token is ever in a repr,
an exception or a log line.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from qcos._errors import AuthenticationError, ConfigurationError, QCOSError

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
REFRESH_MARGIN = 60.0  # seconds before expiry a token is replaced
DEFAULT_EXPIRES_IN = 300.0  # when a server leaves expires_in out (RFC 6749 §5.1: optional)


class OAuthError(AuthenticationError):
    """The token endpoint refused (RFC 6749 §5.2): `error` is the RFC code (`invalid_client`,
    `invalid_scope`, `unauthorized_client`, ...), also in `code`; `detail` is the server's
    `error_description`."""

    @property
    def error(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] | None = None


def _printable(value: str) -> bool:
    return value.isascii() and value.isprintable() and value == value.strip() and bool(value)


def resolve_credentials(
    api_key: str | None,
    client_id: str | None,
    client_secret: str | None,
    scopes: Sequence[str] | None,
) -> str | ClientCredentials:
    """The API key, or the client credentials, this client authenticates with."""
    if api_key is not None and (client_id is not None or client_secret is not None):
        raise ConfigurationError(
            "Pass either api_key= or client_id= and client_secret=, not both.",
            code="INVALID_CONFIG",
        )
    if api_key is None and client_id is None and client_secret is None:
        env_key = os.environ.get("QCOS_API_KEY") or None
        env_id = os.environ.get("QCOS_CLIENT_ID") or None
        env_secret = os.environ.get("QCOS_CLIENT_SECRET") or None
        if env_key and (env_id or env_secret):
            raise ConfigurationError(
                "Both QCOS_API_KEY and QCOS_CLIENT_ID/QCOS_CLIENT_SECRET are set: unset one, "
                "or pass the credential to use as an argument.",
                code="INVALID_CONFIG",
            )
        if env_key:
            return env_key
        client_id, client_secret = env_id, env_secret
    elif api_key is not None:
        return api_key
    if client_id is None and client_secret is None:
        return ""  # no credential at all: the client's own check says so
    if not client_id or not client_secret:
        raise ConfigurationError(
            "Client credentials need both client_id and client_secret "
            "(or QCOS_CLIENT_ID and QCOS_CLIENT_SECRET).",
            code="NO_CLIENT_SECRET" if client_id else "NO_CLIENT_ID",
        )
    if not _printable(client_id) or not _printable(client_secret):
        raise ConfigurationError(
            "The client id or secret has a character none has (non-ASCII, space or "
            "control): check how it was copied.",
            code="BAD_CLIENT_CREDENTIALS",
        )
    if isinstance(scopes, str):
        scopes = scopes.split()
    return ClientCredentials(client_id, client_secret, tuple(scopes) if scopes else None)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # time.monotonic()


class _TokenSource:
    """What the sync and async token sources share: the request and how its answer reads."""

    def __init__(self, credentials: ClientCredentials, base_url: str, user_agent: str) -> None:
        self._credentials = credentials
        self._url = base_url + TOKEN_PATH
        self._user_agent = user_agent
        self._token: _Token | None = None
        self.fetches = 0  # how many tokens were fetched (tests, diagnostics)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self._credentials.client_id!r})"

    def _fresh(self) -> str | None:
        token = self._token
        if token is not None and time.monotonic() < token.refresh_at:
            return token.value
        return None

    def invalidate(self, sent: str) -> None:
        """`sent` was refused: drop it, unless another request already replaced it."""
        if self._token is not None and self._token.value == sent:
            self._token = None

    def _request(self) -> dict[str, Any]:
        form = {"grant_type": "client_credentials"}
        if self._credentials.scopes:
            form["scope"] = " ".join(self._credentials.scopes)
        # RFC 6749 §2.3.1: form-encode both before Basic (a no-op for our ids and secrets).
        auth = httpx.BasicAuth(
            quote(self._credentials.client_id, safe=""),
            quote(self._credentials.client_secret, safe=""),
        )
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        return {"method": "POST", "url": self._url, "data": form, "auth": auth, "headers": headers}

    def _accept(self, response: httpx.Response) -> str:
        self.fetches += 1
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not response.is_success:
            raise _token_error(response, body)
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = body.get("token_type") if isinstance(body, dict) else None
        if (
            not isinstance(token, str)
            or not _printable(token)
            or not isinstance(token_type, str)
            or token_type.lower() != "bearer"
        ):
            # Never the body: it may hold a token.
            raise OAuthError(
                "The token endpoint's answer has no bearer access_token.",
                status_code=response.status_code,
                code="invalid_response",
                request_id=response.headers.get("x-request-id"),
            )
        try:
            expires_in = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        # A short-lived token is still used for the first half of its life.
        lifetime = max(expires_in - REFRESH_MARGIN, expires_in / 2, 0.0)
        self._token = _Token(token, time.monotonic() + lifetime)
        return token


def _token_error(response: httpx.Response, body: Any) -> QCOSError:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = body["error"]
        description = body.get("error_description")
        detail = description if isinstance(description, str) and description else error
        return OAuthError(
            detail,
            status_code=response.status_code,
            code=error,
            request_id=response.headers.get("x-request-id"),
            body={k: v for k, v in body.items() if k in ("error", "error_description")},
        )
    # Not an OAuth answer (no such route, a proxy, a 429 or 5xx): the API's own errors.
    from qcos._client import error_from_response

    return error_from_response(response)


class SyncTokens(_TokenSource):
    def __init__(self, credentials: ClientCredentials, base_url: str, user_agent: str) -> None:
        super().__init__(credentials, base_url, user_agent)
        self._lock = threading.Lock()

    def get(self, http: httpx.Client) -> str:
        token = self._fresh()
        if token is not None:
            return token
        with self._lock:  # one fetch for every thread that needs a token now
            token = self._fresh()
            if token is not None:
                return token
            return self._accept(http.request(**self._request()))


class AsyncTokens(_TokenSource):
    def __init__(self, credentials: ClientCredentials, base_url: str, user_agent: str) -> None:
        super().__init__(credentials, base_url, user_agent)
        self._lock = asyncio.Lock()

    async def get(self, http: httpx.AsyncClient) -> str:
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:  # one fetch for every task that needs a token now
            token = self._fresh()
            if token is not None:
                return token
            return self._accept(await http.request(**self._request()))
