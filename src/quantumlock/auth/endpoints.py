"""/api/v2: `/me` and the key management API."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import Body, Request, Response

from quantumlock.auth.domain import auth_of
from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import (
    ApiKeyOut,
    CreatedApiKeyOut,
    CreateKeyIn,
    Envelope,
    KeyList,
    MeOut,
    RotatedApiKeyOut,
    RotateKeyIn,
)
from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.core.clock import as_utc, isoformat
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v2", tags=["keys"])


@router.get("/me", response_model=Envelope[MeOut], summary="The calling key and its limits")
async def me(request: Request, principal: Principal = require()) -> Response:
    decision = request.state.rate_limit
    data = {
        "key_id": principal.key_id,
        "account_id": principal.account_id,
        "type": principal.key_type.value,
        "mode": principal.mode.value,
        "scopes": sort_scopes(principal.granted_scopes),
        "expires_at": isoformat(principal.expires_at),
        "rate_limit": {
            "limit": decision.limit,
            "remaining": decision.remaining,
            "reset_at": isoformat(datetime.fromtimestamp(decision.reset_at, UTC)),
        },
    }
    # The hottest route: serialised once by orjson; `response_model` documents the shape.
    return Response(orjson.dumps({"data": data}), media_type="application/json")


# Revoking and rotating announce the key's change when the unit of work commits: the key
# cache forgets it at once here, and in the other processes through the change feed.


@router.get("/keys", response_model=Envelope[KeyList], summary="List API keys")
def list_keys(request: Request, principal: Principal = require(Scope.ADMIN)) -> Response:
    auth = auth_of(request)
    auth.flush_usage()
    with unit_of_work(request) as session:
        keys = auth.service(session).list(principal)
        return model_response(Envelope(data=KeyList(keys=[ApiKeyOut.from_row(k) for k in keys])))


@router.post(
    "/keys",
    status_code=201,
    response_model=Envelope[CreatedApiKeyOut],
    summary="Create an API key (the secret is returned once)",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def create_key(
    request: Request,
    body: CreateKeyIn,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    # A replay shows the new secret again, to the same account and mode presenting the same
    # Idempotency-Key and body within 24 h: a lost answer must not lose the key. Stored
    # sealed under the master key (quantumlock.idempotency).
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        issued = (
            auth_of(request)
            .service(session)
            .create(
                principal,
                name=body.name,
                scopes=body.scopes,
                expires_in=body.expires_in,
                key_type=body.type,
            )
        )
        out = ApiKeyOut.from_row(issued.key).model_dump()
        envelope: Envelope[CreatedApiKeyOut] = Envelope(
            data=CreatedApiKeyOut(**out, key=issued.secret)
        )
        return idem.answer(session, model_response(envelope, 201))


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key (immediate)")
def revoke_key(
    request: Request,
    key_id: str,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    with unit_of_work(request) as session:
        auth_of(request).service(session).revoke(principal, key_id)
    return Response(status_code=204)


@router.post(
    "/keys/{key_id}/rotate",
    status_code=201,
    response_model=Envelope[RotatedApiKeyOut],
    summary="Rotate a key: a new secret now, the old one expiring after a grace period",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def rotate_key(
    request: Request,
    key_id: str,
    body: RotateKeyIn | None = Body(default=None),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    grace = body.grace_period if body is not None else None
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        rotated = auth_of(request).service(session).rotate(principal, key_id, grace)
        out = ApiKeyOut.from_row(rotated.new.key).model_dump()
        previous_expiry = rotated.previous.expires_at
        assert previous_expiry is not None  # noqa: S101 - rotation always sets it
        envelope: Envelope[RotatedApiKeyOut] = Envelope(
            data=RotatedApiKeyOut(
                **out,
                key=rotated.new.secret,
                rotated_from=rotated.previous.id,
                previous_key_expires_at=as_utc(previous_expiry),
            )
        )
        return idem.answer(session, model_response(envelope, 201))
