"""Account > Service accounts and Account > OAuth clients (list, create with the secret shown
once, edit, rotate the secret (shown once), disable/enable, delete after a confirmation).

Every page needs the `admin` scope, as /api/v2/service-accounts and /api/v2/oauth-clients
do. The clients service holds the rules: scopes never beyond the signed-in user's, and only
an owner (Principal.grants_admin) grants the admin scope or rotates an admin credential's
secret. The portal acts in live mode: new ones are live; test-mode ones made through the API
are listed (marked) too, as a live key sees them. Clients authenticating with
private_key_jwt are made through the API (their JWK set is not a form field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import AppError, Conflict, InsufficientScope, NotFound
from quantumlock.core.errors import ValidationFailed as Invalid
from quantumlock.identity.clients.service import (
    DEFAULT_GRACE_SECONDS,
    ClientService,
    IdentityClient,
    Kind,
)
from quantumlock.identity.clients.validation import GRANT_TYPES, OIDC_SCOPES
from quantumlock.identity.models import OAuthClient
from quantumlock.identity.oauth.service import SCOPE_DESCRIPTIONS
from quantumlock.portal.core import (
    PortalContext,
    PortalError,
    not_found,
    notice,
    portal_context,
    portal_form,
    see_other,
    text,
    values,
)
from quantumlock.web.security import client_address

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("quantumlock.portal.team")

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
GRACE_CHOICES = (
    ("0", "End them now"),
    ("3600", "1 hour"),
    (str(DEFAULT_GRACE_SECONDS), "24 hours"),
    ("604800", "7 days"),
)
GRANT_TEXT = {
    "authorization_code": "Authorization code (users sign in, PKCE)",
    "refresh_token": "Refresh token",
    "client_credentials": "Client credentials (the client acts as itself)",
}
_DONE = {
    "created": "Created.",
    "saved": "Saved.",
    "disabled": "Disabled: it gets no tokens and its tokens are refused.",
    "enabled": "Enabled: its working secrets work again.",
    "deleted": "Deleted: its secrets and tokens no longer work.",
}


@dataclass(frozen=True)
class Area:
    kind: Kind
    base: str
    noun: str  # "service account"
    nouns: str  # "service accounts"
    folder: str  # templates/team/<folder>_*.html


AREAS: dict[Kind, Area] = {
    "service_account": Area(
        "service_account",
        "/portal/account/service-accounts",
        "service account",
        "service accounts",
        "service_accounts",
    ),
    "oauth_client": Area(
        "oauth_client", "/portal/account/oauth-clients", "OAuth client", "OAuth clients", "oauth"
    ),
}
ACCOUNTS = AREAS["service_account"]
CLIENTS = AREAS["oauth_client"]


def _service(ctx: PortalContext, session: Session) -> ClientService:
    return ClientService(session, ctx.runtime.hasher)


def refusal(error: AppError, what: str, noun: str) -> PortalError:
    """A service's refusal as the portal's error page: 403 in the role's words, 404 for
    another account's object, else the service's own plain words."""
    if isinstance(error, InsufficientScope):
        return PortalError(
            403, "Not allowed", f"Your role does not allow you to {what}. {error.detail}"
        )
    if isinstance(error, NotFound):
        return not_found(noun)
    return PortalError(error.status_code, "That did not work", error.detail)


def _logged(ctx: PortalContext, area: Area, verb: str, client_id: str) -> None:
    """A committed change as a log event: ids only, never a secret."""
    log.info(
        f"portal.{area.kind}.{verb}",
        account_id=ctx.user.account_id,
        user_id=ctx.user.id,
        client_id=client_id,
    )


def scope_choices(ctx: PortalContext, chosen: list[str], *, oidc: bool) -> list[dict[str, Any]]:
    """The scope checkboxes: the API scopes the user holds (admin only for an owner, or when
    already chosen, so an admin's edit keeps it rather than dropping it unseen), then the
    OpenID Connect scopes for OAuth clients."""
    out = []
    names = [*(OIDC_SCOPES if oidc else ()), *(s.value for s in Scope)]
    for name in names:
        if name == Scope.ADMIN.value and not ctx.principal.grants_admin and name not in chosen:
            continue
        if name in (s.value for s in Scope) and not ctx.can(Scope(name)):
            continue
        out.append(
            {"value": name, "text": SCOPE_DESCRIPTIONS.get(name, name), "checked": name in chosen}
        )
    return out


def _has_secret(row: IdentityClient) -> bool:
    return not isinstance(row, OAuthClient) or row.token_endpoint_auth_method in SECRET_METHODS


def _may_rotate(ctx: PortalContext, row: IdentityClient) -> bool:
    """A new secret of an admin credential is that credential: owners only (the service's rule)."""
    return _has_secret(row) and (Scope.ADMIN.value not in row.scopes or ctx.principal.grants_admin)


def _need_admin(ctx: PortalContext, area: Area) -> None:
    ctx.require(Scope.ADMIN, f"manage {area.nouns}")


def _uris(form: FormData) -> list[str]:
    """Redirect URIs, one a line; blank lines dropped."""
    raw = text(form, "redirect_uris", 24000)
    return [line.strip() for line in raw.splitlines() if line.strip()]


# -- lists ----------------------------------------------------------------------------------


def _list(request: Request, ctx: PortalContext, area: Area) -> Response:
    _need_admin(ctx, area)
    cursor = (request.query_params.get("cursor") or "")[:64] or None
    try:
        with ctx.unit_of_work() as session:
            service = _service(ctx, session)
            page = service.page(ctx.principal, area.kind, cursor=cursor, limit=100)
            rows = list(page.rows)
            secrets = service.live_secrets(rows)
    except Invalid as error:
        raise PortalError(400, "Bad request", error.detail) from None
    return ctx.render(
        f"team/{area.folder}_list.html",
        nav=area.base,
        area=area,
        rows=rows,
        prefixes={
            r.id: (s[0].prefix if s else None) for r, s in ((r, secrets[r.id]) for r in rows)
        },
        next_cursor=rows[-1].id if page.has_more and rows else None,
        notice=notice(request, _DONE),
    )


@router.get(ACCOUNTS.base)
def service_accounts(request: Request, ctx: PortalContext = Depends(portal_context)) -> Response:
    return _list(request, ctx, ACCOUNTS)


@router.get(CLIENTS.base)
def oauth_clients(request: Request, ctx: PortalContext = Depends(portal_context)) -> Response:
    return _list(request, ctx, CLIENTS)


# -- creating -------------------------------------------------------------------------------


def _new_form(
    ctx: PortalContext,
    area: Area,
    *,
    status_code: int = 200,
    error: str | None = None,
    kept: dict[str, Any] | None = None,
) -> Response:
    kept = kept or {}
    default_scopes = ["openid"] if area.kind == "oauth_client" else []
    return ctx.render(
        f"team/{area.folder}_new.html",
        status_code=status_code,
        nav=area.base,
        area=area,
        error=error,
        name=kept.get("name", ""),
        kind=kept.get("kind", "confidential"),
        redirect_uris="\n".join(kept.get("redirect_uris", [])),
        grants=[
            {
                "value": g,
                "text": GRANT_TEXT[g],
                "checked": g in kept.get("grant_types", ["authorization_code"]),
            }
            for g in GRANT_TYPES
        ],
        scopes=scope_choices(
            ctx, kept.get("scopes", default_scopes), oidc=area.kind == "oauth_client"
        ),
    )


@router.get(ACCOUNTS.base + "/new")
def new_service_account(ctx: PortalContext = Depends(portal_context)) -> Response:
    _need_admin(ctx, ACCOUNTS)
    return _new_form(ctx, ACCOUNTS)


@router.get(CLIENTS.base + "/new")
def new_oauth_client(ctx: PortalContext = Depends(portal_context)) -> Response:
    _need_admin(ctx, CLIENTS)
    return _new_form(ctx, CLIENTS)


def _secret_page(
    ctx: PortalContext, area: Area, row: IdentityClient, secret: str, heading: str, **extra: Any
) -> Response:
    return ctx.render(
        "team/client_secret.html",
        nav=area.base,
        area=area,
        heading=heading,
        client_id=row.id,
        name=row.name,
        secret=secret,
        **extra,
    )


@router.post(ACCOUNTS.base + "/new")
def create_service_account(
    request: Request,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, ACCOUNTS)
    name, scopes = text(form, "name", 200), values(form, "scopes")
    try:
        with ctx.unit_of_work() as session:
            issued = _service(ctx, session).create_service_account(
                ctx.principal, name=name, scopes=scopes, address=client_address(request)
            )
            row, secret = issued.row, issued.secret
    except (Invalid, Conflict) as error:
        kept = {"name": name, "scopes": scopes}
        return _new_form(
            ctx, ACCOUNTS, status_code=error.status_code, error=error.detail, kept=kept
        )
    except AppError as error:
        raise refusal(error, "give these scopes", ACCOUNTS.noun) from None
    _logged(ctx, ACCOUNTS, "create", row.id)
    assert secret is not None  # noqa: S101 - service accounts always get one
    return _secret_page(ctx, ACCOUNTS, row, secret, "Service account created")


@router.post(CLIENTS.base + "/new")
def create_oauth_client(
    request: Request,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, CLIENTS)
    kept: dict[str, Any] = {
        "name": text(form, "name", 200),
        "kind": text(form, "kind"),
        "redirect_uris": _uris(form),
        "grant_types": values(form, "grant_types"),
        "scopes": values(form, "scopes"),
    }
    try:
        with ctx.unit_of_work() as session:
            issued = _service(ctx, session).create_oauth_client(
                ctx.principal,
                name=kept["name"],
                kind=kept["kind"],
                redirect_uris=kept["redirect_uris"],
                grant_types=kept["grant_types"],
                scopes=kept["scopes"],
                address=client_address(request),
            )
            row, secret = issued.row, issued.secret
    except (Invalid, Conflict) as error:
        return _new_form(ctx, CLIENTS, status_code=error.status_code, error=error.detail, kept=kept)
    except AppError as error:
        raise refusal(error, "give these scopes", CLIENTS.noun) from None
    _logged(ctx, CLIENTS, "create", row.id)
    if secret is None:  # a public client: nothing to show once
        return see_other(f"{CLIENTS.base}/{row.id}?done=created")
    return _secret_page(ctx, CLIENTS, row, secret, "OAuth client created")


# -- one -------------------------------------------------------------------------------------


def _visible(ctx: PortalContext, session: Session, area: Area, client_id: str) -> IdentityClient:
    try:
        return _service(ctx, session).visible(ctx.principal, area.kind, client_id[:64])
    except NotFound:
        raise not_found(area.noun) from None


def _detail(
    request: Request,
    ctx: PortalContext,
    area: Area,
    client_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    kept: dict[str, Any] | None = None,
) -> Response:
    with ctx.unit_of_work() as session:
        row = _visible(ctx, session, area, client_id)
        secrets = _service(ctx, session).live_secrets([row])[row.id]
        kept = kept or {
            "name": row.name,
            "scopes": list(row.scopes),
            "redirect_uris": list(getattr(row, "redirect_uris", [])),
            "grant_types": list(getattr(row, "grant_types", [])),
        }
        return ctx.render(
            f"team/{area.folder}_detail.html",
            status_code=status_code,
            nav=area.base,
            area=area,
            row=row,
            secrets=secrets,
            may_rotate=_may_rotate(ctx, row),
            has_secret=_has_secret(row),
            grace_choices=GRACE_CHOICES,
            default_grace=str(DEFAULT_GRACE_SECONDS),
            error=error,
            notice=notice(request, _DONE),
            name=kept["name"],
            redirect_uris="\n".join(kept["redirect_uris"]),
            grants=[
                {"value": g, "text": GRANT_TEXT[g], "checked": g in kept["grant_types"]}
                for g in GRANT_TYPES
                if not (g == "client_credentials" and getattr(row, "kind", "") == "public")
            ],
            scopes=scope_choices(ctx, kept["scopes"], oidc=area.kind == "oauth_client"),
        )


@router.get(ACCOUNTS.base + "/{client_id}")
def service_account(
    request: Request, client_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    _need_admin(ctx, ACCOUNTS)
    return _detail(request, ctx, ACCOUNTS, client_id)


@router.get(CLIENTS.base + "/{client_id}")
def oauth_client(
    request: Request, client_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    _need_admin(ctx, CLIENTS)
    return _detail(request, ctx, CLIENTS, client_id)


def _edit(
    request: Request, ctx: PortalContext, area: Area, client_id: str, form: FormData
) -> Response:
    _need_admin(ctx, area)
    kept: dict[str, Any] = {
        "name": text(form, "name", 200),
        "scopes": values(form, "scopes"),
        "redirect_uris": _uris(form),
        "grant_types": values(form, "grant_types"),
    }
    try:
        with ctx.unit_of_work() as session:
            service = _service(ctx, session)
            if area.kind == "service_account":
                service.update_service_account(
                    ctx.principal,
                    client_id,
                    name=kept["name"],
                    scopes=kept["scopes"],
                    address=client_address(request),
                )
            else:
                service.update_oauth_client(
                    ctx.principal,
                    client_id,
                    name=kept["name"],
                    redirect_uris=kept["redirect_uris"],
                    grant_types=kept["grant_types"],
                    scopes=kept["scopes"],
                    address=client_address(request),
                )
    except (Invalid, Conflict) as error:
        return _detail(
            request,
            ctx,
            area,
            client_id,
            status_code=error.status_code,
            error=error.detail,
            kept=kept,
        )
    except AppError as error:
        raise refusal(error, "give these scopes", area.noun) from None
    _logged(ctx, area, "update", client_id)
    return see_other(f"{area.base}/{client_id}?done=saved")


@router.post(ACCOUNTS.base + "/{client_id}/edit")
def edit_service_account(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _edit(request, ctx, ACCOUNTS, client_id, form)


@router.post(CLIENTS.base + "/{client_id}/edit")
def edit_oauth_client(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _edit(request, ctx, CLIENTS, client_id, form)


def _rotate(
    request: Request, ctx: PortalContext, area: Area, client_id: str, form: FormData
) -> Response:
    _need_admin(ctx, area)
    grace_text = text(form, "grace_period") or str(DEFAULT_GRACE_SECONDS)
    if grace_text not in {value for value, _ in GRACE_CHOICES}:
        raise PortalError(400, "Bad request", "Choose how long the current secrets keep working.")
    try:
        with ctx.unit_of_work() as session:
            rotated = _service(ctx, session).rotate_secret(
                ctx.principal,
                area.kind,
                client_id,
                grace_period=int(grace_text),
                address=client_address(request),
            )
            row, secret, previous = rotated.row, rotated.secret, rotated.previous_expires_at
    except AppError as error:
        raise refusal(error, f"rotate this {area.noun}'s secret", area.noun) from None
    _logged(ctx, area, "rotate_secret", client_id)
    return _secret_page(ctx, area, row, secret, "New secret", previous_expires_at=previous)


@router.post(ACCOUNTS.base + "/{client_id}/rotate")
def rotate_service_account(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _rotate(request, ctx, ACCOUNTS, client_id, form)


@router.post(CLIENTS.base + "/{client_id}/rotate")
def rotate_oauth_client(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _rotate(request, ctx, CLIENTS, client_id, form)


def _set_status(
    request: Request, ctx: PortalContext, area: Area, client_id: str, *, active: bool
) -> Response:
    _need_admin(ctx, area)
    verb = "enable" if active else "disable"
    try:
        with ctx.unit_of_work() as session:
            _service(ctx, session).set_status(
                ctx.principal, area.kind, client_id, active=active, address=client_address(request)
            )
    except AppError as error:
        raise refusal(error, f"{verb} {area.nouns}", area.noun) from None
    _logged(ctx, area, verb, client_id)
    return see_other(f"{area.base}/{client_id}?done={verb}d")


@router.post(ACCOUNTS.base + "/{client_id}/disable")
def disable_service_account(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _set_status(request, ctx, ACCOUNTS, client_id, active=False)


@router.post(ACCOUNTS.base + "/{client_id}/enable")
def enable_service_account(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _set_status(request, ctx, ACCOUNTS, client_id, active=True)


@router.post(CLIENTS.base + "/{client_id}/disable")
def disable_oauth_client(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _set_status(request, ctx, CLIENTS, client_id, active=False)


@router.post(CLIENTS.base + "/{client_id}/enable")
def enable_oauth_client(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _set_status(request, ctx, CLIENTS, client_id, active=True)


def _delete_confirm(ctx: PortalContext, area: Area, client_id: str) -> Response:
    _need_admin(ctx, area)
    with ctx.unit_of_work() as session:
        row = _visible(ctx, session, area, client_id)
        return ctx.render("team/client_delete.html", nav=area.base, area=area, row=row)


def _delete(request: Request, ctx: PortalContext, area: Area, client_id: str) -> Response:
    _need_admin(ctx, area)
    try:
        with ctx.unit_of_work() as session:
            _service(ctx, session).delete(
                ctx.principal, area.kind, client_id, address=client_address(request)
            )
    except AppError as error:
        raise refusal(error, f"delete {area.nouns}", area.noun) from None
    _logged(ctx, area, "delete", client_id)
    return see_other(f"{area.base}?done=deleted")


@router.get(ACCOUNTS.base + "/{client_id}/delete")
def delete_service_account_confirm(
    client_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    return _delete_confirm(ctx, ACCOUNTS, client_id)


@router.post(ACCOUNTS.base + "/{client_id}/delete")
def delete_service_account(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _delete(request, ctx, ACCOUNTS, client_id)


@router.get(CLIENTS.base + "/{client_id}/delete")
def delete_oauth_client_confirm(
    client_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    return _delete_confirm(ctx, CLIENTS, client_id)


@router.post(CLIENTS.base + "/{client_id}/delete")
def delete_oauth_client(
    request: Request,
    client_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _delete(request, ctx, CLIENTS, client_id)
