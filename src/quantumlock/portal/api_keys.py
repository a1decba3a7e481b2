"""API keys in the portal (/portal/settings/api-keys): list, create, detail, rotate, revoke.

Every role sees the list and a key's page (read-only); creating, rotating and revoking need
the `admin` scope, as /api/v2/keys does. A new or rotated secret is the answer to the POST
itself (never a redirect, so it is in no URL and no later page) and is shown once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Query, Response
from starlette.datastructures import FormData

from quantumlock.auth.domain import auth_of
from quantumlock.auth.models import ApiKey
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import AREAS, DESCRIPTIONS, Scope, sort_scopes
from quantumlock.auth.service import ApiKeyService
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.errors import AppError, NotFound
from quantumlock.portal.core import (
    PortalContext,
    as_page_errors,
    not_found,
    notice,
    plain_words,
    portal_context,
    portal_form,
    see_other,
    text,
    values,
)

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("quantumlock.portal")

BASE = "/portal/settings/api-keys"
NAV = BASE
PAGE_SIZE = 100
MAX_NAME = 100

TYPES: tuple[tuple[str, str], ...] = (
    ("restricted", "Restricted: only the scopes you choose"),
    ("live", "Live: live-mode key"),
    ("test", "Test: test-mode key (test data only)"),
)
# The form's expiration choices: value → the service's `expires_in` (None: never expires).
EXPIRATIONS: dict[str, str | None] = {
    "30d": "30d",
    "60d": "60d",
    "90d": "90d",
    "1y": "365d",
    "never": None,
}
EXPIRATION_LABELS: tuple[tuple[str, str], ...] = (
    ("30d", "30 days"),
    ("60d", "60 days"),
    ("90d", "90 days"),
    ("1y", "1 year"),
    ("never", "Never"),
)
DEFAULT_EXPIRATION = "90d"
# Rotation: how long the old secret keeps working (the service's `grace_period`).
GRACE_PERIODS: tuple[tuple[str, str], ...] = (
    ("0s", "End the old secret now"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
)
DEFAULT_GRACE = "24h"

DONE = {"revoked": "The key is revoked: it is refused from now on."}


def _maker(ctx: PortalContext) -> Principal:
    """The signed-in user as the key services' caller. A user is not a key: the service's
    rule that a new key never outlives the key making it would otherwise cap every key at
    the end of this browser session."""
    return dataclasses.replace(ctx.principal, expires_at=None)


def _service(ctx: PortalContext, session: Any) -> ApiKeyService:
    return auth_of(ctx.request).service(session)


def _key(ctx: PortalContext, session: Any, key_id: str) -> ApiKey:
    try:
        return _service(ctx, session).get(ctx.principal, key_id)
    except NotFound:
        raise not_found("API key") from None


def _status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "Revoked"
    if key.expires_at is not None and as_utc(key.expires_at) <= utcnow():
        return "Expired"
    return "Active"


def _view(key: ApiKey) -> dict[str, Any]:
    """What pages show of a key: never its secret nor its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "type": key.type,
        "mode": key.mode,
        "scopes": sort_scopes(key.scopes),
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "rotated_from": key.rotated_from,
        "status": _status(key),
    }


def _areas() -> list[tuple[str, list[tuple[str, str]]]]:
    return [(name, [(s.value, DESCRIPTIONS[s]) for s in scopes]) for name, scopes in AREAS]


# -- list ------------------------------------------------------------------------------------


@router.get(BASE)
def key_list(
    ctx: PortalContext = Depends(portal_context),
    cursor: str | None = Query(None, max_length=64),
) -> Response:
    auth = auth_of(ctx.request)
    auth.flush_usage()  # "last used" as of now, as GET /api/v2/keys shows it
    with as_page_errors("No such page"), ctx.unit_of_work() as session:
        page = auth.service(session).page(ctx.principal, cursor=cursor, limit=PAGE_SIZE)
        keys = [_view(k) for k in page.rows]
    next_cursor = keys[-1]["id"] if page.has_more and keys else None
    return ctx.render(
        "api_keys/list.html",
        nav=NAV,
        keys=keys,
        next_cursor=next_cursor,
        first_page=cursor is None,
        can_manage=ctx.can(Scope.ADMIN),
        notice=notice(ctx.request, DONE),
    )


# -- create ----------------------------------------------------------------------------------


def _new_form(
    ctx: PortalContext,
    *,
    status_code: int = 200,
    error: str | None = None,
    name: str = "",
    key_type: str = "restricted",
    chosen: list[str] | None = None,
    expiration: str = DEFAULT_EXPIRATION,
) -> Response:
    return ctx.render(
        "api_keys/new.html",
        status_code=status_code,
        nav=NAV,
        error=error,
        name=name,
        key_type=key_type,
        chosen=set(chosen or []),
        expiration=expiration,
        types=TYPES,
        expirations=EXPIRATION_LABELS,
        areas=_areas(),
        # Only an owner may hand out `admin` (the service refuses anyone else).
        offer_admin=ctx.principal.grants_admin,
        max_name=MAX_NAME,
    )


@router.get(BASE + "/new")
def new_key_form(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "create API keys")
    return _new_form(ctx)


def _create_problem(name: str, key_type: str, chosen: list[str], expiration: str) -> str | None:
    """What is wrong with the form, in plain words (the service checks the scopes' names
    and what the user may grant)."""
    if not name:
        return "Give the key a name, so you can tell it apart later."
    if len(name) > MAX_NAME:
        return f"The name is too long: at most {MAX_NAME} characters."
    if key_type not in {value for value, _ in TYPES}:
        return "Choose a key type: restricted, live or test."
    if not chosen:
        return "Choose at least one scope: a key with none could do nothing."
    if expiration not in EXPIRATIONS:
        return "Choose an expiration: 30 days, 60 days, 90 days, 1 year or never."
    return None


@router.post(BASE + "/new")
def create_key(
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    ctx.require(Scope.ADMIN, "create API keys")
    name = text(form, "name", max_length=MAX_NAME + 1)
    key_type = text(form, "type")
    chosen = values(form, "scopes")
    expiration = text(form, "expires")

    def again(status_code: int, error: str) -> Response:
        """The form as it was sent, with what is wrong."""
        return _new_form(
            ctx,
            status_code=status_code,
            error=error,
            name=name,
            key_type=key_type,
            chosen=chosen,
            expiration=expiration,
        )

    problem = _create_problem(name, key_type, chosen, expiration)
    if problem is not None:
        return again(400, problem)
    try:
        with ctx.unit_of_work() as session:
            issued = _service(ctx, session).create(
                _maker(ctx),
                name=name,
                scopes=chosen,
                expires_in=EXPIRATIONS[expiration],
                key_type=key_type,
            )
            key = _view(issued.key)
    except AppError as error:
        return again(error.status_code, plain_words(error))
    _log(ctx, "create", key["id"])
    return _secret_page(ctx, key, issued.secret, created=True)


def _secret_page(
    ctx: PortalContext, key: dict[str, Any], secret: str, *, created: bool, **extra: Any
) -> Response:
    return ctx.render(
        "api_keys/secret.html",
        status_code=201 if created else 200,
        nav=NAV,
        key=key,
        secret=secret,
        created=created,
        previous_expires_at=extra.get("previous_expires_at"),
    )


def _log(ctx: PortalContext, action: str, key_id: str) -> None:
    """A committed change, named like the API's log events: ids only, never a secret."""
    log.info(
        f"api_key.{action}",
        account_id=ctx.user.account_id,
        user_id=ctx.user.id,
        api_key_id=key_id,
        via="portal",
    )


# -- one key ---------------------------------------------------------------------------------


@router.get(BASE + "/{key_id}")
def key_detail(key_id: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    auth_of(ctx.request).flush_usage()
    with ctx.unit_of_work() as session:
        key = _view(_key(ctx, session, key_id))
    return ctx.render(
        "api_keys/detail.html",
        nav=NAV,
        key=key,
        descriptions={s.value: DESCRIPTIONS[s] for s in Scope},
        can_manage=ctx.can(Scope.ADMIN),
    )


# -- rotate ----------------------------------------------------------------------------------


def _rotate_form(
    ctx: PortalContext,
    key: dict[str, Any],
    *,
    status_code: int = 200,
    error: str | None = None,
    grace: str = DEFAULT_GRACE,
) -> Response:
    return ctx.render(
        "api_keys/rotate.html",
        status_code=status_code,
        nav=NAV,
        key=key,
        error=error,
        grace=grace,
        graces=GRACE_PERIODS,
    )


@router.get(BASE + "/{key_id}/rotate")
def rotate_form(key_id: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "rotate API keys")
    with ctx.unit_of_work() as session:
        key = _view(_key(ctx, session, key_id))
    return _rotate_form(ctx, key)


@router.post(BASE + "/{key_id}/rotate")
def rotate_key(
    key_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    ctx.require(Scope.ADMIN, "rotate API keys")
    grace = text(form, "grace_period")
    with ctx.unit_of_work() as session:
        key = _view(_key(ctx, session, key_id))
    if grace not in {value for value, _ in GRACE_PERIODS}:
        message = "Choose how long the old secret keeps working."
        return _rotate_form(ctx, key, status_code=400, error=message, grace=DEFAULT_GRACE)
    try:
        with ctx.unit_of_work() as session:
            rotated = _service(ctx, session).rotate(_maker(ctx), key_id, grace)
            new = _view(rotated.new.key)
            previous_expires_at = rotated.previous.expires_at
    except NotFound:
        raise not_found("API key") from None
    except AppError as error:
        message = plain_words(error)
        return _rotate_form(ctx, key, status_code=error.status_code, error=message, grace=grace)
    _log(ctx, "rotate", key_id)
    return _secret_page(
        ctx, new, rotated.new.secret, created=False, previous_expires_at=previous_expires_at
    )


# -- revoke ----------------------------------------------------------------------------------


@router.get(BASE + "/{key_id}/revoke")
def revoke_form(key_id: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "revoke API keys")
    with ctx.unit_of_work() as session:
        key = _view(_key(ctx, session, key_id))
    return ctx.render("api_keys/revoke.html", nav=NAV, key=key)


@router.post(BASE + "/{key_id}/revoke")
def revoke_key(
    key_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    ctx.require(Scope.ADMIN, "revoke API keys")
    with as_page_errors():
        try:
            with ctx.unit_of_work() as session:
                _service(ctx, session).revoke(ctx.principal, key_id)
        except NotFound:
            raise not_found("API key") from None
    _log(ctx, "revoke", key_id)
    return see_other(BASE + "?done=revoked")
