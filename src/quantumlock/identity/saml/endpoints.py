"""The SAML browser routes: /saml/{account_id}/metadata, login, acs, logout, slo, and the
single sign-on page /login/sso.

HTML routes, out of the OpenAPI document: every answer is a redirect, the SP metadata XML or
an HTML page (identity/pages.py), never JSON and never a 500, whatever is POSTed. The ACS
audits a refused sign-in (`saml.login_failed` with the reason) in a transaction of its own:
the sign-in's own transaction is rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, TypeVar
from urllib.parse import parse_qsl, quote

import structlog
from anyio import to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from quantumlock.identity.pages import (
    base_url,
    check_csrf,
    error_page,
    is_https,
    render,
)
from quantumlock.identity.saml.protocol import SamlRefusal
from quantumlock.identity.saml.service import SamlConfigService
from quantumlock.identity.saml.service_login import SamlLoginService
from quantumlock.identity.users.endpoints import (
    SESSION_COOKIE,
    form_field,
    read_form,
    safe_next,
    see_other,
    set_session_cookie,
    signed_in,
    user_service,
)
from quantumlock.identity.users.service_base import normalise_email
from quantumlock.ratelimit.base import RateLimit
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import client_address, get_runtime

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_]{1,32}$")
# The ACS form: a SAMLResponse (≤ 512 KiB of base64, protocol.MAX_RESPONSE_CHARS) percent-
# encoded, and a RelayState. Anything bigger is refused unread (the server's body limit,
# QL_MAX_BODY_BYTES, may refuse it first with a 413).
MAX_ACS_BODY = 2 * 1024 * 1024
METADATA_TYPE = "application/samlmetadata+xml"
# The browser binding of SP-initiated sign-ins (login CSRF): the values of the sign-ins
# this browser started, newest first. SameSite=None so that the IdP's cross-site POST to
# the ACS carries it; browsers drop SameSite=None without Secure, so only over https.
BINDING_COOKIE = "ql_saml_binding"
BINDING_KEEP = 4  # sign-ins in flight at once (tabs)
BINDING_MAX_AGE = 600  # the request's lifetime (service_login.REQUEST_TTL)

T = TypeVar("T")

# The page's words for each reason (README, "Signing in with SAML"): (status, message).
_BAD = 400
_POLICY = 403
REASONS: dict[str, tuple[int, str]] = {
    "malformed": (_BAD, "The identity provider's answer could not be read."),
    "unsigned": (_BAD, "The identity provider's answer is not signed."),
    "invalid_signature": (
        _BAD,
        "The identity provider's signature is not valid (altered, or signed with a "
        "certificate this account does not trust).",
    ),
    "wrong_issuer": (_BAD, "The answer comes from another identity provider."),
    "wrong_audience": (_BAD, "The answer is meant for another service."),
    "wrong_recipient": (_BAD, "The answer is meant for another address."),
    "wrong_destination": (_BAD, "The answer was sent to another address."),
    "unknown_request": (
        _BAD,
        "The answer does not match a sign-in started here, or that sign-in was already "
        "used or has expired. Start again.",
    ),
    "idp_initiated_not_allowed": (
        _POLICY,
        "This account only accepts sign-ins started here. Start from the sign-in page.",
    ),
    "expired": (_BAD, "The identity provider's answer has expired. Start again."),
    "not_yet_valid": (
        _BAD,
        "The identity provider's answer is not valid yet (check the clocks). Start again.",
    ),
    "replay": (_BAD, "This answer was already used. Start again."),
    "no_email": (_BAD, "The identity provider did not send an email address."),
    "email_in_use": (_POLICY, "This email address belongs to a user of another account."),
    "not_provisioned": (
        _POLICY,
        "You have no user in this account yet. Ask an administrator of your account.",
    ),
    "user_disabled": (_POLICY, "This user is disabled. Ask an administrator of your account."),
    "connection_disabled": (_POLICY, "Single sign-on is turned off for this account."),
    "no_connection": (404, "This account has no single sign-on."),
}
_TITLE = "Single sign-on failed"
_UNAVAILABLE = "Single sign-on is unavailable at the moment. Try again later."


def _service(request: Request, session: Session) -> SamlLoginService:
    runtime = get_runtime(request)
    return SamlLoginService(
        session,
        runtime.sealer,
        user_service(request, session),
        SamlConfigService(session, runtime.sealer),
    )


def refusal_page(request: Request, refusal: SamlRefusal) -> Response:
    status, message = REASONS.get(refusal.reason, REASONS["malformed"])
    return error_page(request, status, _TITLE, message)


def _no_account(request: Request) -> Response:
    return error_page(request, 404, "Not found", REASONS["no_connection"][1])


async def _run(request: Request, work: Callable[[SamlLoginService], T]) -> T | SamlRefusal | None:
    """`work` in a unit of work: its result, the refusal it raised (rolled back), or None
    when something unexpected failed (logged)."""
    runtime = get_runtime(request)

    def call() -> T | SamlRefusal | None:
        try:
            with runtime.unit_of_work() as session:
                return work(_service(request, session))
        except SamlRefusal as refusal:
            return refusal
        except Exception:
            log.exception("saml_failed", path=request.url.path)
            return None

    return await to_thread.run_sync(call)


async def _audit_failure(
    request: Request,
    account_id: str,
    refusal: SamlRefusal,
    action: Literal["saml.login_failed", "saml.logout_failed"] = "saml.login_failed",
) -> None:
    """The refusal's audit event in its own transaction (the refused one was rolled back)."""
    address = client_address(request)
    runtime = get_runtime(request)

    def call() -> None:
        try:
            with runtime.unit_of_work() as session:
                _service(request, session).record_failure(
                    account_id, refusal, address=address, action=action
                )
        except Exception:
            log.exception("saml_audit_failed", reason=refusal.reason)

    await to_thread.run_sync(call)


async def _limited(request: Request, key: str) -> Response | None:
    """The per-address budget of POST /login, for the ACS, /saml/*/login and /login/sso."""
    runtime = get_runtime(request)
    settings = runtime.settings
    guard = await runtime.limiter.hit(
        key + client_address(request),
        RateLimit(settings.login_attempts_per_minute, settings.login_attempts_burst),
    )
    if guard.allowed:
        return None
    wait = retry_after_seconds(guard.retry_after)
    response = error_page(
        request, 429, "Too many attempts", f"Too many sign-in attempts. Try again in {wait} s."
    )
    response.headers["Retry-After"] = str(wait)
    return response


# -- metadata ---------------------------------------------------------------------------------


@router.get("/saml/{account_id}/metadata")
async def metadata(request: Request, account_id: str) -> Response:
    """The SP metadata (entity ID, ACS, SLO, certificate), signed with the SP key."""
    if not _ACCOUNT_ID.match(account_id):
        return _no_account(request)
    base = base_url(request)
    result = await _run(request, lambda svc: svc.metadata(account_id, base))
    if isinstance(result, SamlRefusal):
        return refusal_page(request, result)
    if result is None:
        return error_page(request, 503, "Unavailable", _UNAVAILABLE)
    response = Response(result, media_type=METADATA_TYPE)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


# -- SP-initiated login -----------------------------------------------------------------------


@router.get("/saml/{account_id}/login")
async def login(request: Request, account_id: str) -> Response:
    """303 to the IdP with a signed AuthnRequest (HTTP-Redirect); RelayState is the local
    path to come back to (`next`, made safe), stored with the request. Each call writes a
    row: it shares the per-address budget of POST /login."""
    limited = await _limited(request, "saml-login:")
    if limited is not None:
        return limited
    if not _ACCOUNT_ID.match(account_id):
        return _no_account(request)
    relay = safe_next(request.query_params.get("next"))
    base = base_url(request)
    result = await _run(request, lambda svc: svc.begin_login(account_id, base, relay))
    if isinstance(result, SamlRefusal):
        return refusal_page(request, result)
    if result is None:
        return error_page(request, 503, "Unavailable", _UNAVAILABLE)
    location, binding = result
    response = see_other(location)
    if is_https(request):
        kept = [b for b in _bindings_of(request) if b != binding][: BINDING_KEEP - 1]
        response.set_cookie(
            BINDING_COOKIE,
            ".".join([binding, *kept]),
            max_age=BINDING_MAX_AGE,
            path=f"/saml/{account_id}/",
            httponly=True,
            samesite="none",
            secure=True,
        )
    return response


_BINDING = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _bindings_of(request: Request) -> list[str]:
    raw = request.cookies.get(BINDING_COOKIE, "")
    return [b for b in raw.split(".")[:BINDING_KEEP] if _BINDING.match(b)]


# -- the ACS ----------------------------------------------------------------------------------


async def _acs_form(request: Request) -> dict[str, str] | None:
    """The POSTed form's SAMLResponse and RelayState, read with a size cap; None when it
    is not a readable urlencoded form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ACS_BODY:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ACS_BODY:
                return None
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except Exception:  # not UTF-8, too many fields, a dropped connection: the client's
        return None
    wanted = ("SAMLResponse", "RelayState")
    return {key: value for key, value in pairs if key in wanted}


@router.post("/saml/{account_id}/acs")
async def acs(request: Request, account_id: str) -> Response:
    """The IdP's SAML Response (HTTP-POST): checked, then a session and 303 to the relay
    state; a refusal is a page saying why and a `saml.login_failed` audit entry."""
    limited = await _limited(request, "saml-acs:")
    if limited is not None:
        return limited
    if not _ACCOUNT_ID.match(account_id):
        return _no_account(request)
    form = await _acs_form(request)
    if form is None or not form.get("SAMLResponse"):
        refusal = SamlRefusal("malformed", "No readable SAMLResponse form.")
        await _audit_failure(request, account_id, refusal)
        return refusal_page(request, refusal)
    base = base_url(request)
    address = client_address(request)
    user_agent = request.headers.get("user-agent")
    # Over https a sign-in started here must come back to the browser that started it.
    bindings = _bindings_of(request) if is_https(request) else None
    result = await _run(
        request,
        lambda svc: svc.consume(
            account_id,
            base,
            form,
            relay_from_post=safe_next,
            address=address,
            user_agent=user_agent,
            bindings=bindings,
        ),
    )
    if result is None:
        await _audit_failure(request, account_id, SamlRefusal("malformed", "internal error"))
        return error_page(request, 503, _TITLE, _UNAVAILABLE)
    if isinstance(result, SamlRefusal):
        await _audit_failure(request, account_id, result)
        return refusal_page(request, result)
    response = see_other(result.relay_state)
    set_session_cookie(request, response, result.session_token)
    return response


@router.get("/saml/{account_id}/acs")
@router.get("/saml/{account_id}/logout")
async def post_only(request: Request, account_id: str) -> Response:
    """A browser that reloads or bookmarks the ACS or the sign-out URL: a page (the API's
    405 is JSON), and nothing done (the ACS takes the IdP's POST, sign-out a CSRF form)."""
    del account_id
    response = error_page(
        request,
        405,
        "Start from the sign-in page",
        "This address only takes a form from the sign-in pages or your identity provider.",
    )
    response.headers["Allow"] = "POST"
    return response


# -- single logout ----------------------------------------------------------------------------


@router.post("/saml/{account_id}/logout")
async def logout(request: Request, account_id: str) -> Response:
    """End the local session (CSRF form); an SSO session goes on to the IdP's single
    logout with a signed LogoutRequest when the IdP has an SLO URL, else to /login."""
    form = await read_form(request)
    if form is None or not check_csrf(request, form):
        return error_page(request, 400, "Bad request", "The form expired. Please try again.")
    if not _ACCOUNT_ID.match(account_id):
        return _no_account(request)
    current = await signed_in(request)
    session_id = current.session.id if current is not None else None
    base = base_url(request)
    address = client_address(request)
    result = await _run(
        request,
        lambda svc: svc.logout(account_id, base, session_id=session_id, address=address),
    )
    location = "/login"
    if result is not None and not isinstance(result, SamlRefusal):
        location = result.location
    response = see_other(location)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True)
    return response


@router.get("/saml/{account_id}/slo")
async def single_logout(request: Request, account_id: str) -> Response:
    """The IdP's LogoutRequest (end the sessions it names, answer with a signed
    LogoutResponse) or LogoutResponse (on to /login); HTTP-Redirect, signature required."""
    if not _ACCOUNT_ID.match(account_id):
        return _no_account(request)
    query = {key: value for key, value in request.query_params.items()}
    raw = request.url.query
    base = base_url(request)
    address = client_address(request)
    result = await _run(
        request,
        lambda svc: svc.single_logout(account_id, base, query, raw, address=address),
    )
    if result is None:
        return error_page(request, 503, "Unavailable", _UNAVAILABLE)
    if isinstance(result, SamlRefusal):
        await _audit_failure(request, account_id, result, "saml.logout_failed")
        return error_page(
            request, 400, "Sign-out failed", "The identity provider's sign-out message was refused."
        )
    response = see_other(result.location)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True)
    return response


# -- /login/sso -------------------------------------------------------------------------------

_NO_SSO = "No single sign-on is set up for this address. Sign in with your password."


def _sso_page(
    request: Request,
    next_path: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    email: str = "",
) -> Response:
    return render(
        request,
        "login_sso.html",
        status_code=status_code,
        next=next_path,
        error=error,
        email=email,
        password_link="/login?next=" + quote(next_path, safe=""),
    )


@router.get("/login/sso")
async def sso_form(request: Request) -> Response:
    """Ask for the email address: its account's identity provider signs the user in."""
    return _sso_page(request, safe_next(request.query_params.get("next")))


@router.post("/login/sso")
async def sso_start(request: Request) -> Response:
    """The address's account has an enabled connection: on to its SAML login. Unknown and
    non-SSO addresses get one and the same answer."""
    form = await read_form(request)
    if form is None:
        return error_page(request, 400, "Bad request", "The form could not be read.")
    next_path = safe_next(form_field(form, "next"))
    email = form_field(form, "email").strip()
    if not check_csrf(request, form):
        return _sso_page(
            request,
            next_path,
            status_code=400,
            error="The form expired. Please try again.",
            email=email,
        )
    limited = await _limited(request, "login-sso:")
    if limited is not None:
        return limited

    def account_of(svc: SamlLoginService) -> str | None:
        user = svc.users.repo.by_email(normalise_email(email)) if len(email) <= 320 else None
        if user is None:
            return None
        conn = svc.config.get(user.account_id)
        return user.account_id if conn is not None and conn.enabled else None

    account_id = await _run(request, account_of)
    if not isinstance(account_id, str):
        return _sso_page(request, next_path, status_code=404, error=_NO_SSO, email=email)
    return see_other(f"/saml/{account_id}/login?next=" + quote(next_path, safe=""))
