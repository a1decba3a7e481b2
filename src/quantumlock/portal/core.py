"""What every portal page uses: who is signed in (`PortalContext`), the session-bound CSRF
check, rendering with the portal's headers, and the pages' errors.

Pages are plain FastAPI routes (out of the OpenAPI document). A GET takes
`ctx: PortalContext = Depends(portal_context)`; a state-changing POST also takes
`form: FormData = Depends(portal_form)`, which refuses a missing or wrong CSRF token (403).
Handlers are `def` (FastAPI runs them in its thread pool), open their unit of work with
`ctx.unit_of_work()` (the request owns the transaction), call the domains' services with
`ctx.principal` / `ctx.actor`, and answer with `ctx.render(...)` or `see_other(...)`.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from anyio import to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from quantumlock.accounts.plans import limits_of_account
from quantumlock.accounts.service import AccountService
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc
from quantumlock.core.errors import AppError
from quantumlock.identity.models import User, UserSession
from quantumlock.identity.roles import RANK, Role, role_scopes
from quantumlock.identity.users.endpoints import read_form, signed_in
from quantumlock.runtime import Runtime
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import get_runtime

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/portal/static"
CSRF_FIELD = "csrf_token"
# Forms of up to this many fields (a scope checkbox each: 30 scopes and some fields).
MAX_FORM_FIELDS = 100

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template is HTML
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None, empty: str = "—") -> str:
    """A timestamp as pages show it: UTC, to the minute."""
    if value is None:
        return empty
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime | None, empty: str = "—") -> str:
    if value is None:
        return empty
    return as_utc(value).strftime("%Y-%m-%d")


_ENV.filters["when"] = _when
_ENV.filters["day"] = _day

# The navigation: (path, label, the scope the page needs or None). A page marks itself
# current with `nav=<path>`; a link the user's role cannot open is not shown.
NAV: tuple[tuple[str, str, Scope | None], ...] = (
    ("/portal", "Overview", None),
    ("/portal/settings/api-keys", "API keys", None),
    ("/portal/licenses", "Licenses", Scope.LICENSES_READ),
    ("/portal/usage", "Usage", Scope.ACCOUNT_READ),
    ("/portal/keystore", "Keystore", Scope.QUANTUM_KEYS),
    ("/portal/entropy", "Entropy", Scope.QUANTUM_ENTROPY),
    ("/portal/account/members", "Members", Scope.ADMIN),
    ("/portal/account/service-accounts", "Service accounts", Scope.ADMIN),
    ("/portal/account/oauth-clients", "OAuth clients", Scope.ADMIN),
    ("/portal/account/sso", "Single sign-on", Scope.ADMIN),
    ("/portal/account/audit", "Audit log", Scope.ADMIN),
    ("/portal/settings/security", "Your sign-ins", None),
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def security_headers(response: Response) -> None:
    """Strict CSP (scripts and styles from this service's files only, no inline, no
    framing), no caching (pages show secrets once and carry CSRF tokens), no referrer."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"


class PortalError(Exception):
    """Answered as the portal's error page (registered in quantumlock.portal.install)."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


class NeedsSignIn(Exception):
    """No (live) session: answered with a redirect to /portal/login, coming back after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def forbidden(what: str) -> PortalError:
    """A 403 page for an action the user's role does not allow, in plain words."""
    return PortalError(403, "Not allowed", f"Your role does not allow you to {what}.")


def not_found(what: str = "page") -> PortalError:
    return PortalError(404, "Not found", f"There is no such {what} in your account.")


def login_path(next_path: str) -> str:
    return "/portal/login?next=" + quote(next_path, safe="")


def csrf_token_for(runtime: Runtime, session_id: str) -> str:
    """The CSRF token of a portal session: a keyed digest (the server's pepper) of the
    session id. Bound to the session, so another user's or an old session's token fails,
    and nothing to store."""
    digest = runtime.hasher.digest("portal-csrf\x1f" + session_id)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def user_principal(user: User, session: UserSession, limits: Any) -> Principal:
    """The signed-in user as the services see a caller: their role's scopes, live mode,
    `grants_admin` only for an owner (the rule for users' OAuth tokens, #19)."""
    scopes = role_scopes(user.role)
    return Principal(
        key_id=user.id,
        account_id=user.account_id,
        key_type=KeyType.LIVE,
        mode=Mode.LIVE,
        granted_scopes=scopes,
        scopes=scopes,
        expires_at=session.expires_at,
        revoked_at=None,
        limits=limits,
        user_id=user.id,
        grants_admin=user.role == Role.OWNER,
    )


@dataclass
class PortalContext:
    request: Request
    user: User
    session: UserSession
    principal: Principal
    account_name: str
    plan: str
    csrf_token: str
    runtime: Runtime = field(repr=False)

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    def can(self, scope: Scope) -> bool:
        return self.principal.has(scope)

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def require(self, scope: Scope, what: str) -> None:
        """Refuse (403 page) unless the user's role holds `scope`; `what` completes "Your
        role does not allow you to …"."""
        if not self.can(scope):
            raise forbidden(what)

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """One transaction: committed when the block ends without an exception."""
        return self.runtime.unit_of_work()

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render_page(self.request, template, status_code=status_code, ctx=self, **context)


def render_page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a portal template with the portal's headers. `ctx` (a PortalContext or None)
    gives the navigation and the CSRF token."""
    context.setdefault("ctx", None)
    context.setdefault("notice", None)
    context.setdefault("error", None)
    context.setdefault("nav", None)
    ctx: PortalContext | None = context["ctx"]
    html = _ENV.get_template(template).render(
        nav_items=[(h, label) for h, label, need in NAV if ctx and (need is None or ctx.can(need))],
        static=STATIC_PREFIX,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf_token if ctx is not None else "",
        path=request.url.path,
        Scope=Scope,
        Role=Role,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    security_headers(response)
    return response


def see_other(location: str) -> RedirectResponse:
    """After a POST, the page to show (303: the browser GETs it; reloading repeats nothing)."""
    response = RedirectResponse(location, status_code=303)
    security_headers(response)
    return response


async def portal_context(request: Request) -> PortalContext:
    """The signed-in user of the request, or a redirect to the sign-in page."""
    found = await signed_in(request)
    if found is None:
        path = request.url.path
        if request.url.query and request.method == "GET":
            path += "?" + request.url.query
        raise NeedsSignIn(path if request.method == "GET" else "/portal")
    if found.user.role not in set(Role):
        # A role this service does not know (a database edit): no power, and a page saying
        # so rather than a 500 on every page.
        raise PortalError(
            403,
            "Not allowed",
            "Your account's role is not one this service knows. Ask an owner to set it again.",
        )
    runtime = get_runtime(request)

    def load() -> tuple[str, str, Any]:
        with runtime.unit_of_work() as session:
            account = AccountService(session).get(found.user.account_id)
            return account.name, account.plan, limits_of_account(account)

    name, plan, limits = await to_thread.run_sync(load)
    return PortalContext(
        request=request,
        user=found.user,
        session=found.session,
        principal=user_principal(found.user, found.session, limits),
        account_name=name,
        plan=plan,
        csrf_token=csrf_token_for(runtime, found.session.id),
        runtime=runtime,
    )


async def within_api_limit(ctx: PortalContext) -> None:
    """Take the buckets the matching /api/v1 route takes (quantumlock.web.security): the
    account's ceiling and this user's share of it, as a key's. For the pages that draw on
    what every account shares (the entropy sources, signing), so the portal is no way
    around the account's rate limit; a refusal is a 429 page."""
    principal = ctx.principal
    decision = await ctx.runtime.limiter.admit(
        (
            (f"v1:acct:{principal.account_id}:{principal.mode.value}", principal.v1_limit()),
            ("v1:key:" + principal.key_id, principal.v1_key_limit()),
        )
    )
    if not decision.allowed:
        wait = retry_after_seconds(decision.retry_after)
        raise PortalError(
            429,
            "Too many requests",
            f"Too many requests: this is limited like the API. Try again in {wait} s.",
        )


async def api_limited(ctx: PortalContext = Depends(portal_context)) -> None:
    """`within_api_limit` as a dependency (for `def` handlers)."""
    await within_api_limit(ctx)


async def portal_form(request: Request) -> FormData:
    """The POSTed form, after the session-bound CSRF check: a form without the token, or
    with another session's, is a 403 page and changes nothing."""
    found = await signed_in(request)
    if found is None:
        raise NeedsSignIn("/portal")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # a malformed body is the client's error: a 400 page, never a 500
        raise PortalError(400, "Bad request", "The form could not be read.") from None
    field_value = form.get(CSRF_FIELD)
    expected = csrf_token_for(get_runtime(request), found.session.id)
    if not isinstance(field_value, str) or not hmac.compare_digest(
        field_value.encode(), expected.encode()
    ):
        raise PortalError(
            403,
            "Form expired",
            "This form was not sent from your current session. Reload the page and try again.",
        )
    return form


async def plain_form(request: Request) -> FormData | None:
    """A form for the pages before sign-in (their CSRF is the identity pages' cookie)."""
    return await read_form(request)


def text(form: FormData, name: str, max_length: int = 1024) -> str:
    """A text field, trimmed; absent or a file is ''."""
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def values(form: FormData, name: str, max_length: int = 200) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v[:max_length] for v in form.getlist(name) if isinstance(v, str)]


def plain_words(error: AppError) -> str:
    """A service error as a page shows it: its detail, which names the field and the fix."""
    return error.detail


@contextmanager
def as_page_errors(title: str = "That did not work") -> Iterator[None]:
    """Turn a service's refusal into the portal's error page (for actions without a form
    to show again)."""
    try:
        yield
    except AppError as error:
        raise PortalError(error.status_code, title, plain_words(error)) from None


def invalid_input(error: ValidationError) -> str:
    """A schema's refusal in plain words: each field and what is wrong with it."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"] if p != "body") or "form"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def notice(request: Request, messages: dict[str, str]) -> str | None:
    """The confirmation to show after a redirect (`?done=<code>`): a fixed message chosen
    by code, so nothing a link carries is shown as it is."""
    return messages.get(request.query_params.get("done", ""))
