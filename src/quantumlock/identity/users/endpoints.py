"""The sign-in pages: GET/POST /login, POST /logout, GET/POST /login/set-password/{token},
and what other parts use to know who is signed in (`signed_in`, `login_url`).

HTML routes, out of the OpenAPI document. Every answer is an HTML page (an error too, never
JSON nor a bare 500) carrying the page headers of quantumlock.identity.pages.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import quote, urlsplit

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from quantumlock.core.errors import AppError
from quantumlock.identity.models import User, UserSession
from quantumlock.identity.pages import (
    STATIC,
    STYLESHEET_PATH,
    check_csrf,
    error_page,
    is_https,
    render,
    security_headers,
)
from quantumlock.identity.users.service import LoginResult, UserService
from quantumlock.ratelimit.base import RateLimit
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import client_address, get_runtime

SESSION_COOKIE = "ql_session"
_SIGNED_IN_STATE = "ql_signed_in"
_MAX_NEXT = 2000
_FORM_FIELD_MAX = 1024

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session: UserSession


def user_service(request: Request, session: Session) -> UserService:
    """The users service with this server's sealer, hasher and session lifetimes."""
    runtime = get_runtime(request)
    settings = runtime.settings
    return UserService(
        session,
        runtime.hasher,
        runtime.sealer,
        session_idle=timedelta(seconds=settings.session_idle_timeout),
        session_max_age=timedelta(seconds=settings.session_max_age),
    )


def saml_available() -> bool:
    """SAML SSO is installed (the `[saml]` extra): the sign-in page links to it."""
    return importlib.util.find_spec("onelogin") is not None


def sso_required_rule(request: Request, session: Session) -> Callable[[User], bool] | None:
    """The SAML part's "SSO required" rule for UserService.login (None without the extra:
    then no one can sign in with SSO either, and passwords stay the way in)."""
    if not saml_available():
        return None
    from quantumlock.identity.saml.service import SamlConfigService

    return SamlConfigService(session, get_runtime(request).sealer).sso_required_for


def sso_url(next_path: str) -> str:
    """The single sign-on page (asks for the email, then on to the account's IdP)."""
    return "/login/sso?next=" + quote(next_path, safe="")


def login_url(next_path: str, *, reauth: bool = False) -> str:
    """The sign-in page, coming back to `next_path` (a local path) afterwards. `reauth`:
    show the form even to a signed-in user (OAuth `prompt=login`)."""
    return "/login?next=" + quote(next_path, safe="") + ("&reauth=1" if reauth else "")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None) -> str:
    """`value` if it is a local path ("/…", not "//…", no scheme, host, backslash or control
    character): anything else could send the user to another site after signing in."""
    if not value or len(value) > _MAX_NEXT or not value.startswith("/"):
        return "/"
    if value.startswith("//") or _CONTROL.search(value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


async def signed_in(request: Request) -> SignedIn | None:
    """The signed-in user and session of the request's `ql_session` cookie, or None."""
    if hasattr(request.state, _SIGNED_IN_STATE):
        cached: SignedIn | None = getattr(request.state, _SIGNED_IN_STATE)
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    found: SignedIn | None = None
    if token:

        def look_up() -> SignedIn | None:
            with get_runtime(request).unit_of_work() as session:
                pair = user_service(request, session).session_for(token)
                return SignedIn(user=pair[1], session=pair[0]) if pair else None

        found = await to_thread.run_sync(look_up)
    setattr(request.state, _SIGNED_IN_STATE, found)
    return found


def form_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:_FORM_FIELD_MAX] if isinstance(value, str) else ""


async def read_form(request: Request) -> FormData | None:
    try:
        return await request.form(max_files=0, max_fields=20)
    except Exception:  # a malformed body is the client's error: an HTML 400, never a 500
        return None


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=get_runtime(request).settings.session_max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def see_other(location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    security_headers(response)
    return response


# -- stylesheet -----------------------------------------------------------------------------


@router.get(STYLESHEET_PATH)
async def stylesheet() -> FileResponse:
    """The identity pages' stylesheet (the CSP allows styles from 'self' only)."""
    return FileResponse(
        STATIC / "identity.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# -- sign in / out --------------------------------------------------------------------------


def _login_page(
    request: Request,
    *,
    next_path: str,
    status_code: int = 200,
    error: str | None = None,
    email: str = "",
    ask_code: bool = False,
) -> Response:
    return render(
        request,
        "login.html",
        status_code=status_code,
        next=next_path,
        error=error,
        email=email,
        ask_code=ask_code,
        sso_link=sso_url(next_path) if saml_available() else None,
    )


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form; already signed in, straight on to `next` (unless asked to sign in
    again: the current session then ends only when the new sign-in succeeds, so a link
    cannot sign anyone out)."""
    next_path = safe_next(request.query_params.get("next"))
    reauth = request.query_params.get("reauth") == "1"
    if not reauth and await signed_in(request) is not None:
        return see_other(next_path)
    return _login_page(request, next_path=next_path)


_REFUSALS = {
    "invalid_credentials": (401, "Wrong email or password."),
    "disabled": (403, "This user is disabled. Ask an administrator of your account."),
    "sso_required": (
        403,
        'Your organisation signs in with single sign-on: use "Sign in with single sign-on".',
    ),
    "totp_invalid": (401, "Wrong authentication code. Enter your password and a new code."),
    "totp_required": (200, "Enter your password and the code from your authenticator app."),
}


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the form (CSRF, email, password, TOTP or recovery code), start a new session
    with a new token (no session fixation), set the cookie and go on to `next`."""
    return await sign_in(request, _login_page)


class LoginPage(Protocol):
    """Renders a sign-in form (the identity page, or the portal's) with an outcome."""

    def __call__(
        self,
        request: Request,
        *,
        next_path: str,
        status_code: int = 200,
        error: str | None = None,
        email: str = "",
        ask_code: bool = False,
    ) -> Response: ...


async def sign_in(
    request: Request,
    _login_page: LoginPage,
    next_rule: Callable[[str | None], str] | None = None,
) -> Response:
    """The sign-in POST: the rules of `/login`, answered with `_login_page`'s form (the
    portal's `/portal/login` shares them). `next_rule` makes the form's `next` a safe local
    path (default: `safe_next`)."""
    runtime = get_runtime(request)
    settings = runtime.settings
    address = client_address(request)
    form = await read_form(request)
    if form is None:
        return error_page(request, 400, "Bad request", "The form could not be read.")
    next_path = (next_rule or safe_next)(form_field(form, "next"))
    email = form_field(form, "email").strip()
    if not check_csrf(request, form):
        return _login_page(
            request,
            next_path=next_path,
            status_code=400,
            error="The form expired. Please try again.",
            email=email,
        )
    guard = await runtime.limiter.hit(
        "login:" + address,
        RateLimit(settings.login_attempts_per_minute, settings.login_attempts_burst),
    )
    if not guard.allowed:
        wait = retry_after_seconds(guard.retry_after)
        response = _login_page(
            request,
            next_path=next_path,
            status_code=429,
            error=f"Too many sign-in attempts from this address. Try again in {wait} s.",
            email=email,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    password = form_field(form, "password")
    code = form_field(form, "totp_code").strip() or None
    user_agent = request.headers.get("user-agent")

    previous = await signed_in(request)

    def attempt() -> tuple[LoginResult, str | None]:
        with runtime.unit_of_work() as session:
            users = user_service(request, session)
            result = users.login(
                email,
                password,
                totp_code=code,
                address=address,
                sso_required=sso_required_rule(request, session),
            )
            if result.user is None:
                return result, None
            if previous is not None:  # signing in again (prompt=login): the old one ends
                users.logout(previous.session.id, address=address)
            _row, token = users.start_session(
                result.user,
                mfa=result.user.totp_enabled_at is not None,
                address=address,
                user_agent=user_agent,
            )
            return result, token

    result, token = await to_thread.run_sync(attempt)
    if token is None:
        refused = result.refused or "invalid_credentials"
        if refused == "locked":
            wait = result.retry_after or 60
            response = _login_page(
                request,
                next_path=next_path,
                status_code=429,
                error=f"Too many failed sign-ins for this user. Try again in {wait} s.",
                email=email,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        status, message = _REFUSALS.get(refused, _REFUSALS["invalid_credentials"])
        ask_code = refused in ("totp_required", "totp_invalid")
        return _login_page(
            request,
            next_path=next_path,
            status_code=status,
            error=message,
            email=email,
            ask_code=ask_code,
        )
    response = see_other(next_path)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (server side) and clear the cookie."""
    form = await read_form(request)
    if form is None or not check_csrf(request, form):
        return error_page(request, 400, "Bad request", "The form expired. Please try again.")
    current = await signed_in(request)
    if current is not None:
        address = client_address(request)

        def end() -> None:
            with get_runtime(request).unit_of_work() as session:
                user_service(request, session).logout(current.session.id, address=address)

        await to_thread.run_sync(end)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True)
    return response


# -- one-time set-password link -----------------------------------------------------------


def _link_email(request: Request, token: str) -> str | None:
    with get_runtime(request).unit_of_work() as session:
        user = user_service(request, session).link_user(token)
        return user.email if user is not None else None


_BAD_LINK = "This link is invalid, was already used, or has expired. Ask for a new one."


@router.get("/login/set-password/{token}")
async def set_password_form(request: Request, token: str) -> Response:
    """The form behind a one-time link (first password, or a reset)."""
    email = await to_thread.run_sync(_link_email, request, token)
    if email is None:
        return error_page(request, 404, "Link not valid", _BAD_LINK)
    return render(
        request,
        "set_password.html",
        email=email,
        error=None,
        action="/login/set-password/" + quote(token, safe=""),
    )


@router.post("/login/set-password/{token}")
async def set_password(request: Request, token: str) -> Response:
    """Set the password (strength floor, breached list), burn the link, end old sessions."""
    form = await read_form(request)
    if form is None:
        return error_page(request, 400, "Bad request", "The form could not be read.")
    email = await to_thread.run_sync(_link_email, request, token)
    if email is None:
        return error_page(request, 404, "Link not valid", _BAD_LINK)
    action = "/login/set-password/" + quote(token, safe="")
    password = form_field(form, "password")
    problem: str | None = None
    if not check_csrf(request, form):
        problem = "The form expired. Please try again."
    elif password != form_field(form, "confirm"):
        problem = "The two passwords differ."
    if problem is None:
        address = client_address(request)

        def apply() -> None:
            with get_runtime(request).unit_of_work() as session:
                user_service(request, session).set_password_with_link(
                    token, password, address=address
                )

        try:
            await to_thread.run_sync(apply)
        except AppError as error:
            problem = error.detail
    if problem is not None:
        return render(
            request,
            "set_password.html",
            status_code=400,
            email=email,
            error=problem,
            action=action,
        )
    return render(
        request,
        "message.html",
        title="Password set",
        message="Your password is set. You can sign in now.",
        link="/login",
        link_text="Sign in",
    )
