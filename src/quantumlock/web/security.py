"""Authentication, rate limiting and scope checks: one dependency, declared per route.

`require(Scope.X)` returns the route's dependency, carrying the route's scopes;
`quantumlock.web.openapi` publishes them in the OpenAPI document for both accepted header
styles. The header schemes are not sub-dependencies on purpose: resolving two extra
dependency objects per request cost more than the rest of authentication together.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quantumlock.accounts.plans import RateLimit
from quantumlock.auth.cache import MISS, Found
from quantumlock.auth.keys import KEY_LENGTH, key_type_of
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.auth.service import ApiKeyService
from quantumlock.core.errors import (
    InsufficientScope,
    KeyExpired,
    KeyRevoked,
    RateLimited,
    Unauthorized,
)
from quantumlock.ratelimit.base import Decision
from quantumlock.runtime import Runtime
from quantumlock.web.errors import retry_after_seconds


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def open_session(request: Request) -> Session:
    """A session for one handler call: `with open_session(request) as session: ...`.

    Opened and closed inside the handler's own worker thread on purpose. A yield dependency
    would close it in another thread hop after the handler, and under load every worker
    could be waiting for a connection that only such a pending close would give back.
    """
    return get_runtime(request).sessions()


def client_address(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def presented_key(request: Request) -> str | None:
    """`Authorization: Bearer <key>` (scheme case-insensitive), else `X-API-Key: <key>`."""
    header_key: str | None = None
    name: bytes
    value: bytes
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
        elif name == b"x-api-key":
            header_key = value.decode("latin-1").strip()
    return header_key or None


async def _fail(runtime: Runtime, request: Request, error: Unauthorized) -> NoReturn:
    """Count a failed authentication against the client address, and refuse it.

    GCRA refuses exactly when a peek would, and a refused hit writes nothing: so one `hit`
    both answers "was this address already blocked?" (429) and records the failure (401).
    """
    decision = await runtime.limiter.hit(_guard_key(request), runtime.auth_failure_limit)
    if not decision.allowed:
        _refuse_blocked(runtime, decision)
    runtime.metrics.auth_failures.labels(error.code).inc()
    raise error


def _guard_key(request: Request) -> str:
    return "authfail:" + client_address(request)


def _refuse_blocked(runtime: Runtime, guard: Decision) -> NoReturn:
    runtime.metrics.rate_limited.labels("auth_failures").inc()
    raise RateLimited(
        "Too many failed authentication attempts from this address.",
        retry_after=retry_after_seconds(guard.retry_after),
    )


async def authenticate(request: Request, required: frozenset[Scope] = frozenset()) -> Principal:
    """Authenticate the request's key, apply its rate limit, then check `required` scopes.

    The brute-force guard counts failed authentications per client address and, once an
    address is over its limit, answers that address's failures with 429 instead of 401. It
    never refuses a valid key, cached or not: behind one NAT or load balancer, one client's
    bad keys must not lock out everyone else. So a well-formed key is always looked up, also
    from a blocked address. What keeps that cheap: a typo (bad checksum) is refused without a
    lookup, a lookup is one indexed read by keyed hash, concurrent lookups of one key share
    it, and an unknown key is then cached as unknown; what an attacker learns is no more
    than from any unblocked address, and 190 random bits are not found by guessing.
    """
    runtime = get_runtime(request)
    secret = presented_key(request)
    if not secret:
        await _fail(runtime, request, Unauthorized("Missing API key."))
    if len(secret) != KEY_LENGTH:
        await _fail(runtime, request, Unauthorized("Invalid API key."))

    digest = runtime.hasher.digest(secret)
    cached, due = runtime.key_cache.lookup(digest)
    if cached is MISS:
        # Only now check the checksum: a typo is refused without a database round trip,
        # and a key already in the cache is known to be well formed.
        if key_type_of(secret) is None:
            await _fail(runtime, request, Unauthorized("Invalid API key."))
        runtime.metrics.key_cache_miss.inc()
        found = await runtime.key_cache.load(digest, _loader(runtime, digest))
    else:
        runtime.metrics.key_cache_hit.inc()
        found = cached
        if due:
            runtime.key_cache.refresh(digest, _loader(runtime, digest))
    if found is None:
        await _fail(runtime, request, Unauthorized("Invalid API key."))
    stored_hash, principal = found
    if not hmac.compare_digest(stored_hash, digest):
        await _fail(runtime, request, Unauthorized("Invalid API key."))

    now = time.time()
    if principal.revoked_at is not None:
        await _fail(runtime, request, KeyRevoked())
    if principal.expires_at is not None and principal.expires_at.timestamp() <= now:
        await _fail(runtime, request, KeyExpired())

    state = request.scope["state"]
    state["key_id"] = principal.key_id
    state["account_id"] = principal.account_id

    if request.scope["path"].startswith("/api/v2"):
        family = "v2"
        limit = principal.v2_limit()
        decision = await runtime.limiter.admit((("v2:key:" + principal.key_id, limit),))
    else:
        # The account's ceiling, and this key's share of it, in one decision: a request the
        # key's share refuses does not use up the account's (see accounts.plans.key_share).
        family = "v1"
        limit = principal.v1_limit()
        decision = await runtime.limiter.admit(
            (
                (f"v1:acct:{principal.account_id}:{principal.mode.value}", limit),
                ("v1:key:" + principal.key_id, principal.v1_key_limit()),
            )
        )
    # The headers describe the tighter of the buckets (quantumlock.ratelimit.base.tightest).
    state["rate_limit"] = decision
    if not decision.allowed:
        runtime.metrics.rate_limited.labels(family).inc()
        raise RateLimited(
            _limit_detail(limit, decision),
            retry_after=retry_after_seconds(decision.retry_after),
        )

    missing = required - principal.scopes
    if missing:
        raise InsufficientScope("This request needs scope: " + ", ".join(sort_scopes(missing)))
    runtime.usage.touch(principal.key_id, now)
    return principal


def _limit_detail(account: RateLimit, decision: Decision) -> str:
    if decision.limit < account.burst:
        return (
            f"Rate limit exceeded: this key's share of the account's limit is used up "
            f"(burst {decision.limit}); the account's other keys are not affected."
        )
    return f"Rate limit exceeded: {account.per_minute} requests per minute, burst {account.burst}."


def _resolve(runtime: Runtime, digest: bytes) -> Found:
    with runtime.sessions() as session:
        return ApiKeyService(session, runtime.hasher).resolve(digest)


def _loader(runtime: Runtime, digest: bytes) -> Callable[[], Awaitable[Found]]:
    return lambda: run_in_threadpool(_resolve, runtime, digest)


@functools.cache
def _dependency_for(required: frozenset[Scope]) -> Any:
    async def authenticated(request: Request) -> Principal:
        return await authenticate(request, required)

    # Read by quantumlock.web.openapi to publish the route's scopes.
    authenticated.required_scopes = sort_scopes(required)  # type: ignore[attr-defined]
    return authenticated


def require(*scopes: Scope) -> Any:
    """The route's one auth dependency: `principal: Principal = require(Scope.ADMIN)`.

    A plain `Depends` on a function per scope set: FastAPI's `Security`/`SecurityScopes`
    machinery cost measurably more per request for the same result.
    """
    return Depends(_dependency_for(frozenset(scopes)))
