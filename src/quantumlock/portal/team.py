"""Account > Members: the account's users (list, invite with a one-time set-password link,
change role, disable/enable, remove, reset-password link).

Every page needs the `admin` scope, as /api/v2/users does. The RANK rules (an admin cannot
touch an owner nor make one; the last active owner stays) are the users service's: the
signed-in user is passed as `acting_user_id`, as the API passes a user's token. Links are
rendered once, in the answer to the POST that made them, and never listed or logged.
Service accounts and OAuth clients are in quantumlock.portal.team_clients.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import FormData

from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import AppError, Conflict, NotFound
from quantumlock.core.errors import ValidationFailed as Invalid
from quantumlock.identity.models import User
from quantumlock.identity.roles import RANK, Role
from quantumlock.identity.users.api_endpoints import base_url
from quantumlock.identity.users.endpoints import user_service
from quantumlock.identity.users.service import set_password_url
from quantumlock.portal.core import (
    PortalContext,
    forbidden,
    not_found,
    notice,
    portal_context,
    portal_form,
    see_other,
    text,
)
from quantumlock.portal.team_clients import refusal
from quantumlock.portal.team_clients import router as clients_router
from quantumlock.web.security import client_address

router = APIRouter(include_in_schema=False)
router.include_router(clients_router)
log = structlog.get_logger("quantumlock.portal.team")

MEMBERS = "/portal/account/members"
PAGE_SIZE = 100
_DONE = {
    "role": "The role was changed.",
    "disabled": "The member was disabled: they are signed out and cannot sign in.",
    "enabled": "The member was enabled: they can sign in again.",
    "removed": "The member was removed.",
}
_ROLE_TEXT = {
    Role.OWNER: "Owner: everything, including owners and the admin scope",
    Role.ADMIN: "Admin: everything except owners",
    Role.MEMBER: "Member: use the API and licenses, no account administration",
    Role.VIEWER: "Viewer: read only",
}


def logged(ctx: PortalContext, event: str, **ids: str) -> None:
    """A committed change as a log event: ids only, never a link or a secret."""
    log.info(event, account_id=ctx.user.account_id, user_id=ctx.user.id, **ids)


def grantable_roles(ctx: PortalContext) -> list[tuple[str, str]]:
    """The roles the signed-in user may give (never above their own)."""
    return [(r.value, _ROLE_TEXT[r]) for r in Role if RANK[r] <= RANK[ctx.role]]


def may_manage(ctx: PortalContext, member: User) -> bool:
    """Whether the page shows actions on this member (an admin cannot touch an owner)."""
    return RANK[Role(member.role)] <= RANK[ctx.role]


def _need_admin(ctx: PortalContext, what: str) -> None:
    ctx.require(Scope.ADMIN, what)


@router.get(MEMBERS)
def members(request: Request, ctx: PortalContext = Depends(portal_context)) -> Response:
    _need_admin(ctx, "manage the account's members")
    cursor = request.query_params.get("cursor") or None
    with ctx.unit_of_work() as session:
        page = user_service(request, session).page(
            ctx.actor, cursor=cursor[:64] if cursor else None, limit=PAGE_SIZE
        )
        rows = list(page.rows)
    return ctx.render(
        "team/members.html",
        nav=MEMBERS,
        members=rows,
        next_cursor=rows[-1].id if page.has_more and rows else None,
        manageable={m.id for m in rows if may_manage(ctx, m)},
        notice=notice(request, _DONE),
    )


def _invite_form(
    ctx: PortalContext, *, status_code: int = 200, error: str | None = None, **kept: str
) -> Response:
    return ctx.render(
        "team/invite.html",
        status_code=status_code,
        nav=MEMBERS,
        roles=grantable_roles(ctx),
        error=error,
        email=kept.get("email", ""),
        name=kept.get("name", ""),
        role=kept.get("role", Role.MEMBER.value),
    )


@router.get(MEMBERS + "/invite")
def invite_form(ctx: PortalContext = Depends(portal_context)) -> Response:
    _need_admin(ctx, "invite members")
    return _invite_form(ctx)


@router.post(MEMBERS + "/invite")
def invite(
    request: Request,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, "invite members")
    email, name, role = text(form, "email", 320), text(form, "name", 200), text(form, "role")
    try:
        with ctx.unit_of_work() as session:
            created = user_service(request, session).create(
                ctx.actor,
                email=email,
                role=role,
                name=name,
                acting_user_id=ctx.user.id,
                address=client_address(request),
            )
            member_id, member_email = created.user.id, created.user.email
    except (Invalid, Conflict) as error:
        return _invite_form(
            ctx,
            status_code=error.status_code,
            error=error.detail,
            email=email,
            name=name,
            role=role,
        )
    except AppError as error:
        raise refusal(error, "invite a member with this role", "member") from None
    logged(ctx, "portal.member.invite", member_id=member_id)
    # The token exists only here: the service kept its hash.
    assert created.link_token is not None and created.link_expires_at is not None  # noqa: S101
    return ctx.render(
        "team/link.html",
        nav=MEMBERS,
        heading="Member invited",
        member_email=member_email,
        member_id=member_id,
        link=set_password_url(base_url(request), created.link_token),
        expires_at=created.link_expires_at,
        purpose="set their password and sign in",
    )


def _member(request: Request, ctx: PortalContext, user_id: str) -> User:
    with ctx.unit_of_work() as session:
        try:
            return user_service(request, session).get_in_account(ctx.actor, user_id[:64])
        except NotFound:
            raise not_found("member") from None


def _member_page(
    request: Request,
    ctx: PortalContext,
    member: User,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    return ctx.render(
        "team/member.html",
        status_code=status_code,
        nav=MEMBERS,
        member=member,
        may_manage=may_manage(ctx, member),
        roles=grantable_roles(ctx),
        error=error,
        notice=notice(request, _DONE),
    )


@router.get(MEMBERS + "/{user_id}")
def member(
    request: Request, user_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    _need_admin(ctx, "manage the account's members")
    return _member_page(request, ctx, _member(request, ctx, user_id))


@router.post(MEMBERS + "/{user_id}/role")
def change_role(
    request: Request,
    user_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, "change members' roles")
    try:
        with ctx.unit_of_work() as session:
            user_service(request, session).update(
                ctx.actor,
                user_id,
                role=text(form, "role"),
                acting_user_id=ctx.user.id,
                address=client_address(request),
            )
    except (Invalid, Conflict) as error:
        # The member's page again, with the refusal in plain words.
        return _member_page(
            request,
            ctx,
            _member(request, ctx, user_id),
            status_code=error.status_code,
            error=error.detail,
        )
    except AppError as error:
        raise refusal(error, "change this member's role", "member") from None
    logged(ctx, "portal.member.role", member_id=user_id)
    return see_other(f"{MEMBERS}/{user_id}?done=role")


def _status_change(request: Request, ctx: PortalContext, user_id: str, action: str) -> Response:
    _need_admin(ctx, f"{action} members")
    try:
        with ctx.unit_of_work() as session:
            users = user_service(request, session)
            change = users.disable if action == "disable" else users.enable
            change(ctx.actor, user_id, acting_user_id=ctx.user.id, address=client_address(request))
    except AppError as error:
        raise refusal(error, f"{action} this member", "member") from None
    logged(ctx, f"portal.member.{action}", member_id=user_id)
    return see_other(f"{MEMBERS}/{user_id}?done={action}d")


@router.post(MEMBERS + "/{user_id}/disable")
def disable(
    request: Request,
    user_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _status_change(request, ctx, user_id, "disable")


@router.post(MEMBERS + "/{user_id}/enable")
def enable(
    request: Request,
    user_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    return _status_change(request, ctx, user_id, "enable")


@router.post(MEMBERS + "/{user_id}/password-link")
def password_link(
    request: Request,
    user_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, "make password links")
    try:
        with ctx.unit_of_work() as session:
            user, token, expires_at = user_service(request, session).password_link(
                ctx.actor, user_id, acting_user_id=ctx.user.id
            )
            member_email = user.email
    except AppError as error:
        raise refusal(error, "make a password link for this member", "member") from None
    logged(ctx, "portal.member.password_link", member_id=user_id)
    return ctx.render(
        "team/link.html",
        nav=MEMBERS,
        heading="Password link",
        member_email=member_email,
        member_id=user_id,
        link=set_password_url(base_url(request), token),
        expires_at=expires_at,
        purpose="set a new password (their earlier unused link stops working)",
    )


@router.get(MEMBERS + "/{user_id}/remove")
def remove_confirm(
    request: Request, user_id: str, ctx: PortalContext = Depends(portal_context)
) -> Response:
    _need_admin(ctx, "remove members")
    found = _member(request, ctx, user_id)
    if not may_manage(ctx, found):
        raise forbidden("remove an owner")
    return ctx.render("team/remove.html", nav=MEMBERS, member=found)


@router.post(MEMBERS + "/{user_id}/remove")
def remove(
    request: Request,
    user_id: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    _need_admin(ctx, "remove members")
    try:
        with ctx.unit_of_work() as session:
            user_service(request, session).delete(
                ctx.actor, user_id, acting_user_id=ctx.user.id, address=client_address(request)
            )
    except AppError as error:
        raise refusal(error, "remove this member", "member") from None
    logged(ctx, "portal.member.remove", member_id=user_id)
    if user_id == ctx.user.id:  # removed themself: their session is gone with them
        return see_other("/portal/login")
    return see_other(f"{MEMBERS}?done=removed")
