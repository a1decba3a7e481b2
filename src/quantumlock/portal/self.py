"""/portal/settings/security, "Your sign-ins": the signed-in user's own sessions (sign out
one, or everywhere else), their password, and their two-factor authentication (TOTP).

Everything here acts on ctx.user only: a session id of another user (or account) is a 404
page, as the users service answers. The TOTP secret and the recovery codes are shown once,
on the page answering the POST that made them (never a redirect to a page that could show
them again).
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Response
from starlette.datastructures import FormData

from quantumlock.core.errors import AppError
from quantumlock.identity.models import User
from quantumlock.identity.pages import is_https
from quantumlock.identity.users.endpoints import SESSION_COOKIE, user_service
from quantumlock.identity.users.service import UserService, WrongPassword
from quantumlock.portal.core import (
    PortalContext,
    PortalError,
    as_page_errors,
    notice,
    plain_words,
    portal_context,
    portal_form,
    see_other,
    text,
)
from quantumlock.ratelimit.base import RateLimit
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import client_address

router = APIRouter(include_in_schema=False)

PAGE = "/portal/settings/security"
DONE = {
    "revoked": "That session is signed out.",
    "others": "You are signed out everywhere else.",
    "password": "Your password is changed. Your other sessions are signed out.",
    "totp_off": "Two-factor authentication is off. Your recovery codes no longer work.",
}
WHAT = {"password": "Password", "sso": "Single sign-on"}


def _users(ctx: PortalContext, session: Any) -> UserService:
    return user_service(ctx.request, session)


def _page(
    ctx: PortalContext,
    *,
    status_code: int = 200,
    error: str | None = None,
    password_error: str | None = None,
    totp_error: str | None = None,
) -> Response:
    with ctx.unit_of_work() as session:
        users = _users(ctx, session)
        rows = list(users.sessions(ctx.actor, ctx.user.id))
        user = users.get(ctx.user.id)
        totp_on = user is not None and user.totp_enabled_at is not None
        has_password = user is not None and user.password_hash is not None
    return ctx.render(
        "self/security.html",
        status_code=status_code,
        nav=PAGE,
        notice=notice(ctx.request, DONE),
        error=error,
        password_error=password_error,
        totp_error=totp_error,
        sessions=rows,
        current_id=ctx.session.id,
        methods=WHAT,
        totp_on=totp_on,
        has_password=has_password,
    )


async def _guard(ctx: PortalContext, what: str) -> None:
    """Password and code checks here are limited per user (the sign-in's rate): a stolen
    session must not become a way to guess the password."""
    settings = ctx.runtime.settings
    limit = RateLimit(settings.login_attempts_per_minute, settings.login_attempts_burst)
    decision = await ctx.runtime.limiter.hit(f"self-{what}:{ctx.user.id}", limit)
    if not decision.allowed:
        wait = retry_after_seconds(decision.retry_after)
        raise PortalError(429, "Too many attempts", f"Too many attempts. Try again in {wait} s.")


def _refuse_if_locked(users: UserService, user: User) -> None:
    """A user locked out by wrong passwords (here or at the sign-in) has no password checked
    here either: the lock-out would otherwise not hold for a stolen session."""
    wait = users.locked_for(user)
    if wait:
        raise PortalError(
            429, "Too many attempts", f"Too many wrong passwords. Try again in {wait} s."
        )


@router.get(PAGE)
def security(ctx: PortalContext = Depends(portal_context)) -> Response:
    return _page(ctx)


@router.post(PAGE + "/sessions/revoke-others")
def revoke_others(
    ctx: PortalContext = Depends(portal_context), _form: FormData = Depends(portal_form)
) -> Response:
    with as_page_errors(), ctx.unit_of_work() as session:
        _users(ctx, session).revoke_sessions(
            ctx.actor,
            ctx.user.id,
            keep_session_id=ctx.session.id,
            acting_user_id=ctx.user.id,
            address=client_address(ctx.request),
        )
    return see_other(PAGE + "?done=others")


@router.post(PAGE + "/sessions/{session_id}/revoke")
def revoke_one(
    session_id: str,
    ctx: PortalContext = Depends(portal_context),
    _form: FormData = Depends(portal_form),
) -> Response:
    with as_page_errors(), ctx.unit_of_work() as session:
        _users(ctx, session).revoke_session(
            ctx.actor,
            ctx.user.id,
            session_id[:64],
            acting_user_id=ctx.user.id,
            address=client_address(ctx.request),
        )
    if session_id == ctx.session.id:  # signing out this very session: as "Sign out" does
        response = see_other("/portal/login")
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=is_https(ctx.request), httponly=True
        )
        return response
    return see_other(PAGE + "?done=revoked")


@router.post(PAGE + "/password")
async def change_password(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    current = text(form, "current_password")
    new = text(form, "password")
    problem: str | None = None
    if not current or not new:
        problem = "Enter your current password and a new one."
    elif new != text(form, "confirm"):
        problem = "The two new passwords differ."
    if problem is None:
        await _guard(ctx, "password")
        address = client_address(ctx.request)

        def apply() -> None:
            wrong: WrongPassword | None = None
            with ctx.unit_of_work() as session:
                users = _users(ctx, session)
                user = users.get(ctx.user.id)
                if user is None:
                    raise PortalError(404, "Not found", "Your user no longer exists.")
                _refuse_if_locked(users, user)
                try:
                    users.change_password(
                        user,
                        current=current,
                        new=new,
                        keep_session_id=ctx.session.id,
                        address=address,
                    )
                except WrongPassword as error:
                    users.failed_proof(user, address)  # committed with this unit of work
                    wrong = error
            if wrong is not None:
                raise wrong

        try:
            await to_thread.run_sync(apply)
        except AppError as error:
            problem = plain_words(error)
    if problem is not None:
        return await to_thread.run_sync(lambda: _page(ctx, status_code=400, password_error=problem))
    return see_other(PAGE + "?done=password")


@router.post(PAGE + "/totp")
async def start_totp(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    """The current password first (a user who has one): else a stolen session could put
    the thief's authenticator on the account and lock its owner out of signing in."""
    password = text(form, "totp_password")
    await _guard(ctx, "totp")
    address = client_address(ctx.request)

    def apply() -> tuple[str, str] | str:
        with ctx.unit_of_work() as session:
            users = _users(ctx, session)
            user = users.get(ctx.user.id)
            if user is None:
                raise PortalError(404, "Not found", "Your user no longer exists.")
            if user.password_hash is not None:
                if not password:
                    return "Enter your current password to set up two-factor authentication."
                _refuse_if_locked(users, user)
                if not users.proves_identity(user, password):
                    users.failed_proof(user, address)  # committed with this unit of work
                    return "That is not your current password. Nothing changed."
            with as_page_errors():
                _user, secret, uri = users.start_totp(
                    ctx.actor, ctx.user.id, acting_user_id=ctx.user.id
                )
            return secret, uri

    outcome = await to_thread.run_sync(apply)
    if isinstance(outcome, str):
        refused = outcome
        return await to_thread.run_sync(lambda: _page(ctx, status_code=400, totp_error=refused))
    secret, uri = outcome
    return ctx.render("self/totp_setup.html", nav=PAGE, secret=secret, uri=uri, code_error=None)


@router.post(PAGE + "/totp/confirm")
def confirm_totp(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    code = text(form, "code", 32)
    try:
        with ctx.unit_of_work() as session:
            codes = _users(ctx, session).confirm_totp(
                ctx.actor,
                ctx.user.id,
                code,
                acting_user_id=ctx.user.id,
                address=client_address(ctx.request),
            )
    except AppError as error:
        # The secret is not shown again: it is in the authenticator app already, or the
        # user starts over (a new secret).
        return ctx.render(
            "self/totp_setup.html",
            status_code=400,
            nav=PAGE,
            secret=None,
            uri=None,
            code_error=plain_words(error),
        )
    return ctx.render("self/recovery_codes.html", nav=PAGE, codes=codes)


@router.post(PAGE + "/totp/disable")
async def disable_totp(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    proof = text(form, "proof")
    if not proof:
        return await to_thread.run_sync(
            lambda: _page(
                ctx,
                status_code=400,
                totp_error="Enter your password or a code from your authenticator app.",
            )
        )
    await _guard(ctx, "totp")
    address = client_address(ctx.request)

    def apply() -> bool:
        with ctx.unit_of_work() as session:
            users = _users(ctx, session)
            user = users.get(ctx.user.id)
            if user is None:
                return False
            _refuse_if_locked(users, user)
            if not users.proves_identity(user, proof):
                users.failed_proof(user, address)
                return False
            users.disable_totp(ctx.actor, ctx.user.id, acting_user_id=ctx.user.id, address=address)
            return True

    if not await to_thread.run_sync(apply):
        return await to_thread.run_sync(
            lambda: _page(
                ctx,
                status_code=400,
                totp_error="That is neither your password nor a valid code. Nothing changed.",
            )
        )
    return see_other(PAGE + "?done=totp_off")
