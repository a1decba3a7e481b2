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
from quantumlock.portal.core import PortalContext, portal_context, within_api_limit

router = APIRouter(include_in_schema=False)


@router.get("/portal/entropy")
async def entropy(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.QUANTUM_ENTROPY, "see the entropy sources")
    await within_api_limit(ctx)
    # health() may start sources up (a simulator run, HTTP): in a worker thread, as the API's.
    health = health_body(await to_thread.run_sync(ctx.runtime.entropy.health))
    sources = [
        ("Remote QCOS API", "qcos_api", health.qcos_api),
        ("Local Qiskit simulator", "qiskit_local", health.qiskit_local),
        ("Operating system CSPRNG", "cryptographic", health.cryptographic),
    ]
    return ctx.render("entropy/health.html", nav="/portal/entropy", health=health, sources=sources)
