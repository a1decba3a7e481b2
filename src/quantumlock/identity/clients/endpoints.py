"""/api/v2/oauth-clients and /api/v2/service-accounts (scope `admin`): thin routers.

A client or service account takes the mode of the key that makes it (a live key may pass
`"mode": "test"`); a test key sees only test-mode ones, another account's are 404, as API
keys (quantumlock.auth.endpoints). Secrets are in the create and rotate answers only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import Body, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import DEFAULT_PAGE, MAX_PAGE, Envelope
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import Conflict
from quantumlock.identity.clients.schemas import (
    CreatedOAuthClientOut,
    CreatedServiceAccountOut,
    CreateOAuthClientIn,
    CreateServiceAccountIn,
    OAuthClientList,
    OAuthClientOut,
    RotatedOAuthClientOut,
    RotatedServiceAccountOut,
    RotateSecretIn,
    ServiceAccountList,
    ServiceAccountOut,
    UpdateOAuthClientIn,
    UpdateServiceAccountIn,
)
from quantumlock.identity.clients.service import ClientService, IdentityClient, Kind
from quantumlock.identity.models import OAuthClient, ServiceAccount
from quantumlock.web.errors import request_id_of
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import client_address, get_runtime, require, unit_of_work

router = PrefixRouter(prefix="/api/v2")
log = structlog.get_logger("quantumlock.identity.clients")

CLIENTS = "/oauth-clients"
ACCOUNTS = "/service-accounts"
_CURSOR = Query(None, max_length=64, description="A page's `next_cursor`.")
_LIMIT = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE)


def _service(request: Request, session: Session) -> ClientService:
    return ClientService(session, get_runtime(request).hasher)


def _out(service: ClientService, row: IdentityClient) -> OAuthClientOut | ServiceAccountOut:
    secrets = service.live_secrets([row])[row.id]
    if isinstance(row, OAuthClient):
        return OAuthClientOut.from_row(row, secrets)
    assert isinstance(row, ServiceAccount)  # noqa: S101 - the only other kind
    return ServiceAccountOut.from_row(row, secrets)


def _logged(request: Request, principal: Principal, kind: Kind, verb: str, ref: str) -> None:
    """A committed change as a log event named like its audit type: ids only, no secret."""
    log.info(
        f"{kind}.{verb}",
        request_id=request_id_of(request),
        account_id=principal.account_id,
        key_id=principal.key_id,
        client_id=ref,
    )


def _page(
    request: Request, principal: Principal, kind: Kind, cursor: str | None, limit: int
) -> Response:
    with unit_of_work(request) as session:
        service = _service(request, session)
        page = service.page(principal, kind, cursor=cursor, limit=limit)
        secrets = service.live_secrets(page.rows)
        next_cursor = page.rows[-1].id if page.has_more and page.rows else None
        out: BaseModel
        if kind == "oauth_client":
            out = OAuthClientList(
                oauth_clients=[
                    OAuthClientOut.from_row(r, secrets[r.id])  # type: ignore[arg-type]
                    for r in page.rows
                ],
                has_more=page.has_more,
                next_cursor=next_cursor,
            )
        else:
            out = ServiceAccountList(
                service_accounts=[
                    ServiceAccountOut.from_row(r, secrets[r.id])  # type: ignore[arg-type]
                    for r in page.rows
                ],
                has_more=page.has_more,
                next_cursor=next_cursor,
            )
        return model_response(Envelope[Any](data=out))


def _get(request: Request, principal: Principal, kind: Kind, client_id: str) -> Response:
    with unit_of_work(request) as session:
        service = _service(request, session)
        row = service.visible(principal, kind, client_id)
        return model_response(Envelope[Any](data=_out(service, row)))


def _change(
    request: Request,
    principal: Principal,
    kind: Kind,
    verb: str,
    act: Callable[[ClientService], IdentityClient],
) -> Response:
    """Run one change in the request's unit of work and answer with the object."""
    with unit_of_work(request) as session:
        service = _service(request, session)
        row = act(service)
        response = model_response(Envelope[Any](data=_out(service, row)))
    _logged(request, principal, kind, verb, row.id)
    return response


def _status(
    request: Request, principal: Principal, kind: Kind, client_id: str, *, active: bool
) -> Response:
    """Disable or enable, as an idempotent POST (the stored answer is committed with it)."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            service = _service(request, session)
            row = service.set_status(
                principal, kind, client_id, active=active, address=client_address(request)
            )
            response = idem.answer(session, model_response(Envelope[Any](data=_out(service, row))))
        _logged(request, principal, kind, "enable" if active else "disable", row.id)
        return response


def _rotate(
    request: Request, principal: Principal, kind: Kind, client_id: str, body: RotateSecretIn | None
) -> Response:
    grace = body.grace_period if body is not None else None
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            service = _service(request, session)
            rotated = service.rotate_secret(
                principal, kind, client_id, grace_period=grace, address=client_address(request)
            )
            base = _out(service, rotated.row).model_dump()
            extra = {
                "client_secret": rotated.secret,
                "previous_secrets_expire_at": rotated.previous_expires_at,
            }
            out: BaseModel = (
                RotatedOAuthClientOut(**base, **extra)
                if kind == "oauth_client"
                else RotatedServiceAccountOut(**base, **extra)
            )
            response = idem.answer(session, model_response(Envelope[Any](data=out)))
        _logged(request, principal, kind, "rotate_secret", rotated.row.id)
        return response


def _delete(request: Request, principal: Principal, kind: Kind, client_id: str) -> Response:
    with unit_of_work(request) as session:
        _service(request, session).delete(
            principal, kind, client_id, address=client_address(request)
        )
    _logged(request, principal, kind, "delete", client_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- OAuth clients


@router.get(
    CLIENTS,
    tags=["oauth clients"],
    response_model=Envelope[OAuthClientList],
    summary="List OAuth clients, newest first, a page at a time",
)
def list_oauth_clients(
    request: Request,
    limit: int = _LIMIT,
    cursor: str | None = _CURSOR,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """The account's OAuth clients (a test key sees only test-mode ones), `limit` per page
    (1-1000, default 100); pass `next_cursor` as `cursor` for the next page. Secrets are
    never listed: `secret_prefix` only."""
    return _page(request, principal, "oauth_client", cursor, limit)


@router.post(
    CLIENTS,
    tags=["oauth clients"],
    status_code=201,
    response_model=Envelope[CreatedOAuthClientOut],
    summary="Register an OAuth client (its secret is returned once)",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def create_oauth_client(
    request: Request, body: CreateOAuthClientIn, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """A `confidential` client (authenticating with `client_secret_basic` (default),
    `client_secret_post` or `private_key_jwt` with inline `jwks`) or a `public` one (PKCE,
    `token_endpoint_auth_method` `none`). Redirect URIs are https (http only on loopback),
    without fragment, matched exactly. `scopes`: API scopes within the calling key's plus
    `openid profile email offline_access`. `id_token_signed_response_alg`: ES256 (default)
    or RS256. A secret-using client's `client_secret` is in this answer only. 409 when the
    account has 100 clients."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            service = _service(request, session)
            issued = service.create_oauth_client(
                principal,
                name=body.name,
                kind=body.kind,
                redirect_uris=body.redirect_uris,
                grant_types=body.grant_types,
                scopes=body.scopes,
                token_endpoint_auth_method=body.token_endpoint_auth_method,
                jwks=body.jwks,
                mode=body.mode,
                id_token_signed_response_alg=body.id_token_signed_response_alg,
                address=client_address(request),
            )
            base = _out(service, issued.row).model_dump()
            out = CreatedOAuthClientOut(**base, client_secret=issued.secret)
            response = idem.answer(session, model_response(Envelope(data=out), 201))
        _logged(request, principal, "oauth_client", "create", issued.row.id)
        return response


@router.get(
    CLIENTS + "/{client_id}",
    tags=["oauth clients"],
    response_model=Envelope[OAuthClientOut],
    summary="Get an OAuth client (never its secret)",
)
def get_oauth_client(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Another account's client is 404, and so is a live-mode one for a test key."""
    return _get(request, principal, "oauth_client", client_id)


@router.patch(
    CLIENTS + "/{client_id}",
    tags=["oauth clients"],
    response_model=Envelope[OAuthClientOut],
    summary="Change an OAuth client's name, redirect URIs, scopes, grant types or keys",
)
def update_oauth_client(
    request: Request,
    client_id: str,
    body: UpdateOAuthClientIn,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Absent fields stay as they are; the creation rules apply (scopes within the calling
    key's, `jwks` only for private_key_jwt; `id_token_signed_response_alg` ES256 or RS256).
    Takes effect at once on every node."""
    return _change(
        request,
        principal,
        "oauth_client",
        "update",
        lambda s: s.update_oauth_client(
            principal,
            client_id,
            name=body.name,
            redirect_uris=body.redirect_uris,
            scopes=body.scopes,
            grant_types=body.grant_types,
            jwks=body.jwks,
            id_token_signed_response_alg=body.id_token_signed_response_alg,
            address=client_address(request),
        ),
    )


@router.delete(
    CLIENTS + "/{client_id}",
    tags=["oauth clients"],
    status_code=204,
    summary="Delete an OAuth client and its secrets",
)
def delete_oauth_client(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Gone for good: its secrets stop working and its tokens are refused."""
    return _delete(request, principal, "oauth_client", client_id)


@router.post(
    CLIENTS + "/{client_id}/rotate-secret",
    tags=["oauth clients"],
    response_model=Envelope[RotatedOAuthClientOut],
    summary="A new client secret; the old ones keep working for a grace period",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def rotate_oauth_client_secret(
    request: Request,
    client_id: str,
    body: RotateSecretIn | None = Body(default=None),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """The new `client_secret` is in this answer only. The working secrets keep working
    for `grace_period` seconds (default 86400, at most 604800); 0 ends them now. 409 for
    a client without a secret (public, private_key_jwt) or with 5 secrets still working."""
    return _rotate(request, principal, "oauth_client", client_id, body)


@router.post(
    CLIENTS + "/{client_id}/disable",
    tags=["oauth clients"],
    response_model=Envelope[OAuthClientOut],
    summary="Disable an OAuth client",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def disable_oauth_client(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """It can no longer authenticate or get tokens, and its tokens are refused on every
    node within a second. Disabling a disabled client changes nothing."""
    return _status(request, principal, "oauth_client", client_id, active=False)


@router.post(
    CLIENTS + "/{client_id}/enable",
    tags=["oauth clients"],
    response_model=Envelope[OAuthClientOut],
    summary="Enable a disabled OAuth client",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def enable_oauth_client(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Its secrets work again (those not expired meanwhile)."""
    return _status(request, principal, "oauth_client", client_id, active=True)


# ------------------------------------------------------------------------ service accounts


@router.get(
    ACCOUNTS,
    tags=["service accounts"],
    response_model=Envelope[ServiceAccountList],
    summary="List service accounts, newest first, a page at a time",
)
def list_service_accounts(
    request: Request,
    limit: int = _LIMIT,
    cursor: str | None = _CURSOR,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """The account's service accounts (a test key sees only test-mode ones), `limit` per
    page; pass `next_cursor` as `cursor` for the next. Secrets are never listed."""
    return _page(request, principal, "service_account", cursor, limit)


@router.post(
    ACCOUNTS,
    tags=["service accounts"],
    status_code=201,
    response_model=Envelope[CreatedServiceAccountOut],
    summary="Create a service account (its client secret is returned once)",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def create_service_account(
    request: Request, body: CreateServiceAccountIn, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """A machine identity for `client_credentials`: `client_id` (`service_…`) and
    `client_secret` (`secret_…`, in this answer only). Its tokens carry exactly `scopes`,
    which never exceed the calling key's (403). 409 when the account has 100."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            service = _service(request, session)
            issued = service.create_service_account(
                principal,
                name=body.name,
                scopes=body.scopes,
                mode=body.mode,
                address=client_address(request),
            )
            assert issued.secret is not None  # noqa: S101 - service accounts always get one
            base = _out(service, issued.row).model_dump()
            out = CreatedServiceAccountOut(**base, client_secret=issued.secret)
            response = idem.answer(session, model_response(Envelope(data=out), 201))
        _logged(request, principal, "service_account", "create", issued.row.id)
        return response


@router.get(
    ACCOUNTS + "/{client_id}",
    tags=["service accounts"],
    response_model=Envelope[ServiceAccountOut],
    summary="Get a service account (never its secret)",
)
def get_service_account(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Another account's is 404, and so is a live-mode one for a test key."""
    return _get(request, principal, "service_account", client_id)


@router.patch(
    ACCOUNTS + "/{client_id}",
    tags=["service accounts"],
    response_model=Envelope[ServiceAccountOut],
    summary="Rename a service account or change its scopes",
)
def update_service_account(
    request: Request,
    client_id: str,
    body: UpdateServiceAccountIn,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Absent fields stay as they are. Scopes never exceed the calling key's (403); its
    tokens narrow to new scopes at once on every node."""
    return _change(
        request,
        principal,
        "service_account",
        "update",
        lambda s: s.update_service_account(
            principal,
            client_id,
            name=body.name,
            scopes=body.scopes,
            address=client_address(request),
        ),
    )


@router.delete(
    ACCOUNTS + "/{client_id}",
    tags=["service accounts"],
    status_code=204,
    summary="Delete a service account and its secrets",
)
def delete_service_account(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Gone for good: its secrets stop working and its tokens are refused."""
    return _delete(request, principal, "service_account", client_id)


@router.post(
    ACCOUNTS + "/{client_id}/rotate-secret",
    tags=["service accounts"],
    response_model=Envelope[RotatedServiceAccountOut],
    summary="A new service-account secret; the old ones keep working for a grace period",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def rotate_service_account_secret(
    request: Request,
    client_id: str,
    body: RotateSecretIn | None = Body(default=None),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """The new `client_secret` is in this answer only. The working secrets keep working
    for `grace_period` seconds (default 86400, at most 604800); 0 ends them now. 409 with
    5 secrets still working."""
    return _rotate(request, principal, "service_account", client_id, body)


@router.post(
    ACCOUNTS + "/{client_id}/disable",
    tags=["service accounts"],
    response_model=Envelope[ServiceAccountOut],
    summary="Disable a service account",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def disable_service_account(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """It gets no tokens and its tokens are refused on every node within a second.
    Disabling a disabled one changes nothing."""
    return _status(request, principal, "service_account", client_id, active=False)


@router.post(
    ACCOUNTS + "/{client_id}/enable",
    tags=["service accounts"],
    response_model=Envelope[ServiceAccountOut],
    summary="Enable a disabled service account",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def enable_service_account(
    request: Request, client_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Its secrets work again (those not expired meanwhile)."""
    return _status(request, principal, "service_account", client_id, active=True)
