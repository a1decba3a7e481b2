"""/portal/entropy: each entropy source's state and the security level of a test draw,
exactly as GET /api/v1/quantum/health reports them (the same function builds both), with
the same scope (quantum:entropy) and the same rate limit: the report starts up sources and
draws from the ones every account shares, so the page must not be a way around the
account's /api/v1 limit."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Response

from quantumlock.auth.scopes import Scope
from quantumlock.entropy.endpoints import health_body
from quantumlock.portal.core import PortalContext, PortalError, portal_context
from quantumlock.web.errors import retry_after_seconds

router = APIRouter(include_in_schema=False)


async def _admit(ctx: PortalContext) -> None:
    """The buckets GET /api/v1/quantum/health takes (quantumlock.web.security): the
    account's /api/v1 ceiling, and this user's share of it as a key's."""
    principal = ctx.principal
    decision = await ctx.runtime.limiter.admit(
        (
            (f"v1:acct:{principal.account_id}:{principal.mode.value}", principal.v1_limit()),
            ("v1:key:" + principal.key_id, principal.v1_key_limit()),
        )
    )
    if not decision.allowed:
        wait = retry_after_seconds(decision.retry_after)
        raise PortalError(
            429,
            "Too many requests",
            f"Too many requests: this report is limited like the API. Try again in {wait} s.",
        )


@router.get("/portal/entropy")
async def entropy(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.QUANTUM_ENTROPY, "see the entropy sources")
    await _admit(ctx)
    # health() may start sources up (a simulator run, HTTP): in a worker thread, as the API's.
    health = health_body(await to_thread.run_sync(ctx.runtime.entropy.health))
    sources = [
        ("Remote QCOS API", "qcos_api", health.qcos_api),
        ("Local Qiskit simulator", "qiskit_local", health.qiskit_local),
        ("Operating system CSPRNG", "cryptographic", health.cryptographic),
    ]
    return ctx.render("entropy/health.html", nav="/portal/entropy", health=health, sources=sources)
