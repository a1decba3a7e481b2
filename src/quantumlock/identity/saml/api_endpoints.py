"""/api/v2/sso/saml: the account's SAML identity provider (one per account), scope `admin`.

Users belong to no mode, so neither does their sign-in: a test-mode key reads the connection
but every change is 403, as on /api/v2/users. The SP's private key never leaves the server.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request, Response
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import Envelope
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import NotFound
from quantumlock.identity.models import SamlConnection
from quantumlock.identity.pages import base_url
from quantumlock.identity.saml.schemas import (
    SamlConnectionIn,
    SamlConnectionOut,
    SamlConnectionPatch,
)
from quantumlock.identity.saml.service import SamlConfigService
from quantumlock.web.errors import request_id_of
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import client_address, get_runtime, require, unit_of_work

router = PrefixRouter(prefix="/api/v2/sso/saml", tags=["sso"])
log = structlog.get_logger("quantumlock.identity.saml")

_CREATED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replaced (the SP key pair kept)."},
    201: {"model": Envelope[SamlConnectionOut], "description": "Created (first PUT)."},
}


def config_service(request: Request, session: Session) -> SamlConfigService:
    return SamlConfigService(session, get_runtime(request).sealer)


def _answer(
    request: Request, service: SamlConfigService, conn: SamlConnection, status: int = 200
) -> Response:
    out = SamlConnectionOut.from_row(conn, service.effective_attributes(conn), base_url(request))
    return model_response(Envelope(data=out), status)


def _logged(request: Request, principal: Principal, verb: str) -> None:
    """A committed change, named like its audit type: ids only."""
    log.info(
        f"saml.config_{verb}",
        request_id=request_id_of(request),
        account_id=principal.account_id,
        key_id=principal.key_id,
    )


def _fields(body: SamlConnectionIn) -> dict[str, Any]:
    # Only what the client sent: a null it sent (idp_slo_url, attributes.email) means none.
    return body.model_dump(exclude_unset=True)


@router.get(
    "",
    response_model=Envelope[SamlConnectionOut],
    summary="Get the account's SAML connection",
    responses=may_raise(NotFound),
)
def get_connection(request: Request, principal: Principal = require(Scope.ADMIN)) -> Response:
    """The IdP as configured, the attribute names in effect (the preset's unless set), and
    `sp`: what to give the IdP (entity id, ACS URL, certificate). 404 when there is none."""
    with unit_of_work(request) as session:
        service = config_service(request, session)
        conn = service.get(principal.account_id)
        if conn is None:
            raise NotFound("No SAML connection for this account.")
        return _answer(request, service, conn)


@router.put(
    "",
    response_model=Envelope[SamlConnectionOut],
    summary="Create or replace the account's SAML connection",
    responses={**_CREATED, **may_raise(NotFound)},
)
def put_connection(
    request: Request, body: SamlConnectionIn, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """201 when it creates the connection (and its SP key pair), 200 when it replaces it:
    fields left out take their defaults, the SP key pair stays. The IdP comes from
    `idp_metadata_xml` or from `idp_entity_id`, `idp_sso_url` and `idp_certificates`;
    fields given with the metadata override it. Invalid input is 400 naming the field.

    403 `INSUFFICIENT_SCOPE` also for a test-mode key (it only reads) and for a caller below
    owner level, such as an admin user's token: only an `admin` API key or service account,
    or an owner's token, changes the connection (its IdP can sign in as anyone)."""
    with unit_of_work(request) as session:
        service = config_service(request, session)
        done = service.configure(
            principal.actor,
            _fields(body),
            owner_level=principal.grants_admin,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
        response = _answer(request, service, done.connection, 201 if done.created else 200)
    _logged(request, principal, "create" if done.created else "update")
    return response


@router.patch(
    "",
    response_model=Envelope[SamlConnectionOut],
    summary="Change some fields of the account's SAML connection",
    responses=may_raise(NotFound),
)
def patch_connection(
    request: Request, body: SamlConnectionPatch, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Absent fields stay (null too, except `idp_slo_url` and `attributes.email`, where
    null means none). New `idp_metadata_xml` replaces the IdP's entity id, URLs and
    certificates. 404 when there is no connection.

    403 `INSUFFICIENT_SCOPE` also for a test-mode key (it only reads) and for a caller below
    owner level, such as an admin user's token: only an `admin` API key or service account,
    or an owner's token, changes the connection (its IdP can sign in as anyone)."""
    with unit_of_work(request) as session:
        service = config_service(request, session)
        conn = service.update(
            principal.actor,
            _fields(body),
            owner_level=principal.grants_admin,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
        response = _answer(request, service, conn)
    _logged(request, principal, "update")
    return response


@router.delete(
    "",
    status_code=204,
    summary="Delete the account's SAML connection",
    responses=may_raise(NotFound),
)
def delete_connection(request: Request, principal: Principal = require(Scope.ADMIN)) -> Response:
    """SSO sign-in stops; password sign-in works again for users who have a password. The
    SP key pair goes too: a new connection gets a new one. 404 when there is none.

    403 `INSUFFICIENT_SCOPE` also for a test-mode key (it only reads) and for a caller below
    owner level, such as an admin user's token: only an `admin` API key or service account,
    or an owner's token, changes the connection (its IdP can sign in as anyone)."""
    with unit_of_work(request) as session:
        config_service(request, session).delete(
            principal.actor,
            owner_level=principal.grants_admin,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
    _logged(request, principal, "delete")
    return Response(status_code=204)
