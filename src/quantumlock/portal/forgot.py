"""/portal/login/forgot: a signed-out user who forgot their password.

Without mail (QL_SMTP_HOST and QL_ISSUER) the page says who can hand over a one-time
set-password link. With mail, it takes an email address and always gives the same answer,
whether or not a user has that address: the look-up, the link and the mail happen after the
answer is sent (a background task), so neither the words nor the time tell anything.
Requests are limited per client address and per email address; the form carries the
identity pages' cookie CSRF token (there is no session yet).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask

from quantumlock.identity.pages import attach_csrf_cookie, check_csrf, csrf_token
from quantumlock.identity.users.endpoints import form_field, read_form, user_service
from quantumlock.identity.users.service import set_password_url
from quantumlock.portal.core import render_page
from quantumlock.portal.mail import mail_configured, send_mail
from quantumlock.ratelimit.base import RateLimit
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import client_address, get_runtime

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("quantumlock.portal.forgot")

PATH = "/portal/login/forgot"
SUBJECT = "Your QuantumLock password link"
SENT = (
    "If a user of QuantumLock has this email address, a one-time link to set a new "
    "password is on its way to it. The link works once, for 24 hours. No mail within a few "
    "minutes? Look in your spam folder, or ask an admin of your account."
)


def _page(
    request: Request,
    *,
    status_code: int = 200,
    error: str | None = None,
    email: str = "",
    sent: bool = False,
) -> Response:
    response = render_page(
        request,
        "self/forgot.html",
        status_code=status_code,
        login_csrf=csrf_token(request),
        mail=mail_configured(get_runtime(request).settings),
        error=error,
        email=email,
        sent=SENT if sent else None,
    )
    attach_csrf_cookie(request, response)
    return response


def _mail_body(url: str) -> str:
    return (
        "Someone (we hope you) asked to set a new password for your QuantumLock sign-in.\n\n"
        f"Open this link to choose one (it works once, for 24 hours):\n\n{url}\n\n"
        "Setting a new password signs you out everywhere else. If you did not ask for "
        "this, ignore this mail: your password stays as it is.\n"
    )


def _send_link(request: Request, email: str) -> None:
    """The work behind the answer: a link for the user of `email`, if any, mailed to them.
    Nothing is logged that names the address or carries the link."""
    runtime = get_runtime(request)
    settings = runtime.settings
    try:
        with runtime.unit_of_work() as session:
            found = user_service(request, session).password_link_for_email(email)
        if found is None:
            return
        user, token, _expires_at = found
        url = set_password_url(settings.issuer or "", token)
        if send_mail(settings, to=user.email, subject=SUBJECT, body=_mail_body(url)):
            log.info("portal.password_link_mailed", user_id=user.id, account_id=user.account_id)
    except Exception as error:  # a background task: nobody to answer; say what broke
        log.warning("portal.password_link_failed", error=type(error).__name__)


@router.get(PATH)
async def forgot_form(request: Request) -> Response:
    return _page(request)


@router.post(PATH)
async def forgot(request: Request) -> Response:
    runtime = get_runtime(request)
    settings = runtime.settings
    form = await read_form(request)
    if form is None:
        return _page(request, status_code=400, error="The form could not be read.")
    email = form_field(form, "email").strip()
    if not check_csrf(request, form):
        return _page(
            request, status_code=400, error="The form expired. Please try again.", email=email
        )
    if not mail_configured(settings):
        return _page(request)  # the page without mail explains what to do instead
    if not email or "@" not in email or len(email) > 320:
        return _page(
            request,
            status_code=400,
            error="Enter the email address you sign in with.",
            email=email,
        )
    limit = RateLimit(settings.password_reset_per_minute, settings.password_reset_burst)
    # The email's bucket is named by a keyed digest: the limiter's store (Redis) holds no
    # addresses.
    email_key = runtime.hasher.digest("forgot\x1f" + email.lower()).hex()[:32]
    for key in ("forgot:addr:" + client_address(request), "forgot:email:" + email_key):
        guard = await runtime.limiter.hit(key, limit)
        if not guard.allowed:
            wait = retry_after_seconds(guard.retry_after)
            response = _page(
                request,
                status_code=429,
                error=f"Too many requests for a password link. Try again in {wait} s.",
                email=email,
            )
            response.headers["Retry-After"] = str(wait)
            return response
    response = _page(request, sent=True)
    response.background = BackgroundTask(_send_link, request, email)
    return response
