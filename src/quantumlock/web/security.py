"""Authentication, rate limiting and scope checks: one dependency, declared per route.

`require(Scope.X)` returns a `Security(...)` dependency; FastAPI lists its scopes on the
operation in the OpenAPI document, next to both accepted header styles.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any, NoReturn, cast

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quantumlock.auth.cache import MISS
from quantumlock.auth.keys import key_type_of
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.auth.service import ApiKeyService
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import (
    InsufficientScope,
    KeyExpired,
    KeyRevoked,
    RateLimited,
    Unauthorized,
)
from quantumlock.runtime import Runtime
from quantumlock.web.errors import retry_after_seconds

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer qcos_…`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: qcos_…`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(request: Request) -> Iterator[Session]:
    with get_runtime(request).sessions() as session:
        yield session


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _fail(runtime: Runtime, request: Request, error: Unauthorized) -> NoReturn:
    runtime.metrics.auth_failures.labels(error.code).inc()
    await runtime.limiter.hit("authfail:" + client_address(request), runtime.auth_failure_limit)
    raise error


async def authenticate(
    request: Request,
    security_scopes: SecurityScopes,
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    header_key: str | None = Depends(api_key_scheme),
) -> Principal:
    runtime = get_runtime(request)
    # A client that keeps presenting bad keys is refused before its next key is looked at.
    guard = await runtime.limiter.peek(
        "authfail:" + client_address(request), runtime.auth_failure_limit
    )
    if not guard.allowed:
        runtime.metrics.rate_limited.labels("auth_failures").inc()
        raise RateLimited(
            "Too many failed authentication attempts from this address.",
            retry_after=retry_after_seconds(guard.retry_after),
        )

    secret = bearer.credentials if bearer is not None else header_key
    if not secret:
        await _fail(runtime, request, Unauthorized("Missing API key."))
    if key_type_of(secret) is None:
        await _fail(runtime, request, Unauthorized("Invalid API key."))

    digest = runtime.hasher.digest(secret)
    found = await _lookup(runtime, digest)
    if found is None:
        await _fail(runtime, request, Unauthorized("Invalid API key."))
    stored_hash, principal = found
    if not hmac.compare_digest(stored_hash, digest):
        await _fail(runtime, request, Unauthorized("Invalid API key."))

    now = utcnow()
    if principal.revoked_at is not None:
        await _fail(runtime, request, KeyRevoked())
    if principal.expires_at is not None and principal.expires_at <= now:
        await _fail(runtime, request, KeyExpired())

    state = request.state
    state.key_id = principal.key_id
    state.account_id = principal.account_id

    if request.url.path.startswith("/api/v2"):
        family, bucket, limit = "v2", "v2:key:" + principal.key_id, principal.v2_limit()
    else:
        family = "v1"
        bucket = f"v1:acct:{principal.account_id}:{principal.mode.value}"
        limit = principal.v1_limit()
    decision = await runtime.limiter.hit(bucket, limit)
    state.rate_limit = decision
    if not decision.allowed:
        runtime.metrics.rate_limited.labels(family).inc()
        raise RateLimited(
            f"Rate limit exceeded: {limit.per_minute} requests per minute, burst {limit.burst}.",
            retry_after=retry_after_seconds(decision.retry_after),
        )

    missing = [s for s in security_scopes.scopes if Scope(s) not in principal.scopes]
    if missing:
        raise InsufficientScope("This request needs scope: " + ", ".join(sort_scopes(missing)))
    runtime.usage.touch(principal.key_id, now)
    return principal


async def _lookup(runtime: Runtime, digest: bytes) -> tuple[bytes, Principal] | None:
    cached = runtime.key_cache.get(digest)
    if cached is not MISS:
        runtime.metrics.key_cache.labels("hit").inc()
        return cast("tuple[bytes, Principal] | None", cached)
    runtime.metrics.key_cache.labels("miss").inc()
    found = await run_in_threadpool(_resolve, runtime, digest)
    runtime.key_cache.put(digest, found)
    return found


def _resolve(runtime: Runtime, digest: bytes) -> tuple[bytes, Principal] | None:
    with runtime.sessions() as session:
        return ApiKeyService(session, runtime.hasher).resolve(digest)


def require(*scopes: Scope) -> Any:
    """The route's one auth dependency: `principal: Principal = require(Scope.ADMIN)`."""
    return Security(authenticate, scopes=[s.value for s in scopes])
