"""Authentication, rate limiting and scope checks: one dependency, declared per route.

`require(Scope.X)` returns the route's dependency, carrying the route's scopes;
`quantumlock.web.openapi` publishes them in the OpenAPI document for both accepted header
styles. The header schemes are not sub-dependencies on purpose: resolving two extra
dependency objects per request cost more than the rest of authentication together.
"""

from __future__ import annotations

import functools
import time
from contextlib import AbstractContextManager
from typing import Any, NoReturn, Protocol

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from quantumlock.accounts.plans import RateLimit
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.core.errors import InsufficientScope, RateLimited, Unauthorized
from quantumlock.ratelimit.base import Decision
from quantumlock.runtime import Runtime
from quantumlock.web.errors import retry_after_seconds


class Authenticator(Protocol):
    """What this module needs of the domain that knows credentials (installed by it)."""

    async def authenticate(self, secret: str) -> Principal:
        """The principal of a presented secret, or Unauthorized (KeyExpired, KeyRevoked)."""
        ...

    def used(self, principal: Principal, at: float) -> None:
        """An authenticated request of `principal` at `at` (epoch seconds) was admitted."""
        ...


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def unit_of_work(request: Request) -> AbstractContextManager[Session]:
    """The handler's unit of work: `with unit_of_work(request) as session: ...` commits
    when the block ends, rolls back when it raises (quantumlock.db.unit_of_work).

    Opened and closed inside the handler's own worker thread on purpose. A yield dependency
    would close it in another thread hop after the handler, and under load every worker
    could be waiting for a connection that only such a pending close would give back.
    """
    return get_runtime(request).unit_of_work()


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
    from a blocked address. What keeps that cheap is the installed `Authenticator`'s
    (quantumlock.auth.authenticator); what an attacker learns is no more than from any
    unblocked address, and 190 random bits are not found by guessing.
    """
    runtime = get_runtime(request)
    secret = presented_key(request)
    if not secret:
        await _fail(runtime, request, Unauthorized("Missing API key."))
    authenticator: Authenticator = request.app.state.authenticator
    try:
        principal = await authenticator.authenticate(secret)
    except Unauthorized as error:  # also KeyExpired, KeyRevoked
        await _fail(runtime, request, error)

    state = request.scope["state"]
    state["key_id"] = principal.key_id
    state["account_id"] = principal.account_id
    now = time.time()
    # Every authenticated request, per key and UTC day, in memory (a 429 adds its refusal
    # where it is answered, web.errors); the auth domain writes them in the background.
    runtime.key_usage.add((principal.account_id, principal.key_id, int(now // 86400)), 1, 0)

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
    authenticator.used(principal, now)
    return principal


def _limit_detail(account: RateLimit, decision: Decision) -> str:
    if decision.limit < account.burst:
        return (
            f"Rate limit exceeded: this key's share of the account's limit is used up "
            f"(burst {decision.limit}); the account's other keys are not affected."
        )
    return f"Rate limit exceeded: {account.per_minute} requests per minute, burst {account.burst}."


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
