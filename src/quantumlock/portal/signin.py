"""Signing in and out of the portal, and its overview page.

`/portal/login` shares the rules of the identity `/login` (quantumlock.identity.users
.endpoints.sign_in): the login CSRF cookie, the per-address rate limit, TOTP, "SSO
required", a new session token at every sign-in (no session fixation).
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import FormData

from quantumlock.identity.pages import attach_csrf_cookie, csrf_token, is_https
from quantumlock.identity.users.endpoints import (
    SESSION_COOKIE,
    safe_next,
    saml_available,
    sign_in,
    signed_in,
    sso_url,
    user_service,
)
from quantumlock.portal.core import (
    PortalContext,
    portal_context,
    portal_form,
    render_page,
    see_other,
)
from quantumlock.web.security import client_address, get_runtime

router = APIRouter(include_in_schema=False)


def _portal_next(value: str | None) -> str:
    """Back to a portal page after signing in; anything else goes to the overview."""
    path = safe_next(value)
    return path if path == "/portal" or path.startswith("/portal/") else "/portal"


def login_page(
    request: Request,
    *,
    next_path: str,
    status_code: int = 200,
    error: str | None = None,
    email: str = "",
    ask_code: bool = False,
) -> Response:
    response = render_page(
        request,
        "login.html",
        status_code=status_code,
        login_csrf=csrf_token(request),
        next=_portal_next(next_path),
        error=error,
        email=email,
        ask_code=ask_code,
        sso_link=sso_url(_portal_next(next_path)) if saml_available() else None,
    )
    attach_csrf_cookie(request, response)
    return response


@router.get("/portal/login")
async def portal_login_form(request: Request) -> Response:
    next_path = _portal_next(request.query_params.get("next"))
    if await signed_in(request) is not None:
        return see_other(next_path)
    return login_page(request, next_path=next_path)


@router.post("/portal/login")
async def portal_login(request: Request) -> Response:
    return await sign_in(request, login_page, _portal_next)


@router.post("/portal/logout")
async def portal_logout(
    request: Request,
    ctx: PortalContext = Depends(portal_context),
    _form: FormData = Depends(portal_form),
) -> Response:
    address = client_address(request)
    session_id = ctx.session.id

    def end() -> None:
        with get_runtime(request).unit_of_work() as session:
            user_service(request, session).logout(session_id, address=address)

    await to_thread.run_sync(end)
    response = see_other("/portal/login")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True)
    return response


@router.get("/portal")
def portal_home(ctx: PortalContext = Depends(portal_context)) -> Response:
    return ctx.render("home.html", nav="/portal")
