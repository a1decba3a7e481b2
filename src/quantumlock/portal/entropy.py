"""/portal/entropy: each entropy source's state and the security level of a test draw,
exactly as GET /api/v1/quantum/health reports them (the same function builds both), with
the same scope (quantum:entropy)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from quantumlock.auth.scopes import Scope
from quantumlock.entropy.endpoints import health_body
from quantumlock.portal.core import PortalContext, portal_context

router = APIRouter(include_in_schema=False)


@router.get("/portal/entropy")
def entropy(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.QUANTUM_ENTROPY, "see the entropy sources")
    health = health_body(ctx.runtime.entropy.health())
    sources = [
        ("Remote QCOS API", "qcos_api", health.qcos_api),
        ("Local Qiskit simulator", "qiskit_local", health.qiskit_local),
        ("Operating system CSPRNG", "cryptographic", health.cryptographic),
    ]
    return ctx.render("entropy/health.html", nav="/portal/entropy", health=health, sources=sources)
