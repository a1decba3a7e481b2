"""/portal/keystore: the account's quantum keys (live mode), list and detail, metadata only.

The keystore never gives material out here: a key's material is returned once at creation
and only if exportable (the API's rule); these pages show what GET /api/v1/quantum/keys
shows and need the same scope (quantum:keys)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import NotFound
from quantumlock.crypto.domain import crypto_of
from quantumlock.crypto.schemas import KeyOut
from quantumlock.portal.core import PortalContext, PortalError, not_found, portal_context

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
WHAT = "see the keystore"


@router.get("/portal/keystore")
def keystore(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.QUANTUM_KEYS, WHAT)
    page = _page_number(ctx.request.query_params.get("page", "1"))
    with ctx.unit_of_work() as session:
        total, rows = (
            crypto_of(ctx.request)
            .keystore(session)
            .list(ctx.actor, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        )
        keys = [KeyOut.from_row(row) for row in rows]  # the API's fields: no material
    return ctx.render(
        "keystore/list.html",
        nav="/portal/keystore",
        keys=keys,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


def _page_number(value: str) -> int:
    # Read here, not by FastAPI: its refusal would be the API's JSON, not a page.
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise PortalError(400, "Bad request", "The page number must be a whole number from 1.")
    return int(value)


@router.get("/portal/keystore/{key_id}")
def key_detail(key_id: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.QUANTUM_KEYS, WHAT)
    with ctx.unit_of_work() as session:
        try:
            key = KeyOut.from_row(
                crypto_of(ctx.request).keystore(session).get(ctx.actor, key_id[:64])
            )
        except NotFound:
            raise not_found("key") from None
    return ctx.render("keystore/detail.html", nav="/portal/keystore", key=key)
