"""/api/v2: `/me` and the key management API."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import structlog
from fastapi import Body, Query, Request, Response

from quantumlock.auth.domain import auth_of
from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ApiKeyOut,
    CreatedApiKeyOut,
    CreateKeyIn,
    Envelope,
    KeyList,
    MeOut,
    RotatedApiKeyOut,
    RotateKeyIn,
    UpdateKeyIn,
)
from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.core.clock import as_utc, isoformat
from quantumlock.core.errors import Conflict
from quantumlock.web.errors import request_id_of
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v2", tags=["keys"])
log = structlog.get_logger("quantumlock.auth")


def log_change(request: Request, principal: Principal, action: str, key_id: str) -> None:
    """A committed key change as a log event named like its audit type (`api_key.revoke`):
    ids only, never a secret."""
    log.info(
        f"api_key.{action}",
        request_id=request_id_of(request),
        account_id=principal.account_id,
        key_id=principal.key_id,
        api_key_id=key_id,
    )


@router.get("/me", response_model=Envelope[MeOut], summary="The calling key and its limits")
async def me(request: Request, principal: Principal = require()) -> Response:
    """The key that made the request: its id, account, type, mode, scopes and expiry, and
    the rate limit it is under now. Any valid key may call it (no scope needed).

    Called with an OAuth 2.0 access token, the same shape: `key_id` is the token's client
    (`client_…` or `service_…`), `type` its mode, `scopes` what it may do now, `expires_at`
    the token's expiry, and `subject` says whom it acts for (null for an API key)."""
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
        "subject": _subject(principal) if principal.token_id is not None else None,
    }
    # The hottest route: serialised once by orjson; `response_model` documents the shape.
    return Response(orjson.dumps({"data": data}), media_type="application/json")


def _subject(principal: Principal) -> dict[str, str | None]:
    kind = (
        "user"
        if principal.user_id is not None
        else "service_account"
        if principal.key_id.startswith("service_")
        else "client"
    )
    return {
        "kind": kind,
        "id": principal.user_id or principal.key_id,
        "client_id": principal.key_id,
        "token_expires_at": isoformat(principal.expires_at),
    }


# Revoking and rotating announce the key's change when the unit of work commits: the key
# cache forgets it at once here, and in the other processes through the change feed.


@router.get(
    "/keys",
    response_model=Envelope[KeyList],
    summary="List API keys, newest first, a page at a time",
    description="Unrevoked keys (a test key sees only test-mode keys), newest first. "
    "`limit` keys per page (1-1000, default 100); pass a page's `next_cursor` as `cursor` "
    "for the next one (`has_more` says whether there is one). Secrets are never listed.",
)
def list_keys(
    request: Request,
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, max_length=64, description="A page's `next_cursor`."),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    auth = auth_of(request)
    auth.flush_usage()
    with unit_of_work(request) as session:
        page = auth.service(session).page(principal, cursor=cursor, limit=limit)
        keys = [ApiKeyOut.from_row(k) for k in page.rows]
        next_cursor = keys[-1].id if page.has_more else None
        out = KeyList(keys=keys, has_more=page.has_more, next_cursor=next_cursor)
        return model_response(Envelope(data=out))


@router.get(
    "/keys/{key_id}",
    response_model=Envelope[ApiKeyOut],
    summary="Get an API key (never its secret)",
    description="A revoked key too (with `revoked_at`). Another account's key is 404, and "
    "so is a live-mode key for a test key.",
)
def get_key(request: Request, key_id: str, principal: Principal = require(Scope.ADMIN)) -> Response:
    auth = auth_of(request)
    auth.flush_usage()
    with unit_of_work(request) as session:
        key = auth.service(session).get(principal, key_id)
        return model_response(Envelope(data=ApiKeyOut.from_row(key)))


@router.patch(
    "/keys/{key_id}",
    response_model=Envelope[ApiKeyOut],
    summary="Rename a key, narrow its scopes or replace its metadata",
    description="Absent fields stay as they are. `scopes` only ever narrows: a change that "
    "would give the key any scope it does not hold (also through an implied scope, as "
    "`admin` implies all) is 400 VALIDATION_ERROR; make a new key instead. A narrowing takes "
    "effect at once on every node. A revoked key is 409. The secret is never returned.",
    responses=may_raise(Conflict),
)
def update_key(
    request: Request,
    key_id: str,
    body: UpdateKeyIn,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    with unit_of_work(request) as session:
        key = (
            auth_of(request)
            .service(session)
            .update(principal, key_id, name=body.name, scopes=body.scopes, metadata=body.metadata)
        )
        response = model_response(Envelope(data=ApiKeyOut.from_row(key)))
    log_change(request, principal, "update", key.id)  # committed
    return response


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
    """A new key of `type` (`live`, `test` or `restricted`) with `scopes` (default: every
    scope but `admin`) and an optional lifetime (`expires_in`: `90d`, `12h`, `1y`). A key
    never grants more than the calling key holds (403), a test key creates no live key, and
    the secret (`key`) is in this response only."""
    # A replay shows the new secret again, to the same account and mode presenting the same
    # Idempotency-Key and body within 24 h: a lost answer must not lose the key. Stored
    # sealed under the master key (quantumlock.idempotency).
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            issued = (
                auth_of(request)
                .service(session)
                .create(
                    principal,
                    name=body.name,
                    scopes=body.scopes,
                    expires_in=body.expires_in,
                    key_type=body.type,
                    metadata=body.metadata,
                )
            )
            out = ApiKeyOut.from_row(issued.key).model_dump()
            envelope: Envelope[CreatedApiKeyOut] = Envelope(
                data=CreatedApiKeyOut(**out, key=issued.secret)
            )
            response = idem.answer(session, model_response(envelope, 201))
        log_change(request, principal, "create", issued.key.id)
        return response


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key (immediate)")
def revoke_key(
    request: Request,
    key_id: str,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """The key is refused from now on, on every node within a second. Revoking a revoked key
    changes nothing (204 again); another account's key is 404."""
    with unit_of_work(request) as session:
        revoked = auth_of(request).service(session).revoke(principal, key_id)
    log_change(request, principal, "revoke", revoked.id)
    return Response(status_code=204)


@router.post(
    "/keys/{key_id}/rotate",
    status_code=201,
    response_model=Envelope[RotatedApiKeyOut],
    summary="Rotate a key: a new secret now, the old one expiring after a grace period",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def rotate_key(
    request: Request,
    key_id: str,
    body: RotateKeyIn | None = Body(default=None),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """A new secret: a new key with the old one's name, type, scopes and expiry; the old one
    keeps working for `grace_period` (default `24h`; `0s` ends it now). A revoked or expired
    key cannot be rotated (409)."""
    grace = body.grace_period if body is not None else None
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
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
            response = idem.answer(session, model_response(envelope, 201))
        log_change(request, principal, "rotate", rotated.previous.id)
        return response
