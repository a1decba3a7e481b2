"""Server-rendered identity pages (sign-in, set password, OAuth consent): one Jinja2
environment over identity/templates/, CSRF by double-submit cookie, and the headers every
such page carries.

Pages hold no inline script or style (the CSP forbids both); the one stylesheet is served by
the users part at STYLESHEET_PATH. Every page is `no-store`: it may show an email address or
hold a CSRF token, and a shared cache must keep neither.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STYLESHEET_PATH = "/login/identity.css"

CSRF_COOKIE = "ql_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_STATE = "ql_csrf_token"
_CSRF_LENGTH = 43  # secrets.token_urlsafe(32)

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template is HTML
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
    trim_blocks=True,
    lstrip_blocks=True,
)


def is_https(request: Request) -> bool:
    """Served over https: directly, or behind a trusted proxy that said so (X-Forwarded-Proto,
    applied to the scope by quantumlock.web.proxy only for trusted peers)."""
    return request.url.scheme == "https"


def base_url(request: Request) -> str:
    """This service's public base URL: QL_ISSUER when set, else the request's scheme and
    host. The OAuth issuer and the SAML SP's addresses are built on it."""
    # app.state.runtime (quantumlock.web.security.get_runtime), read without importing the
    # web layer, which sits above the domains.
    issuer: str | None = request.app.state.runtime.settings.issuer
    if issuer:
        return issuer
    return f"{request.url.scheme}://{request.url.netloc}"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the browser's `ql_csrf` cookie if it holds a well-formed
    one, else a new one that `render` sets as the cookie."""
    token: str | None = getattr(request.state, _CSRF_STATE, None)
    if token is not None:
        return token
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if len(cookie) == _CSRF_LENGTH and cookie.replace("-", "").replace("_", "").isalnum():
        token = cookie
    else:
        token = secrets.token_urlsafe(32)
        request.state.ql_csrf_new = True
    setattr(request.state, _CSRF_STATE, token)
    return token


def check_csrf(request: Request, form: Mapping[str, Any]) -> bool:
    """The form's hidden field equals the `ql_csrf` cookie (constant-time compare). A
    cross-site form can send the cookie but cannot read it to fill the field."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    field = form.get(CSRF_FIELD)
    if not isinstance(field, str) or len(cookie) != _CSRF_LENGTH:
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())


def security_headers(response: Response, form_action_origins: Iterable[str] = ()) -> None:
    """CSP (no script, no inline style, forms only to us and the given origins), no framing,
    no caching, no referrer (a page's URL may carry a one-time token)."""
    form_action = " ".join(("'self'", *form_action_origins))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {form_action}"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    form_action_origins: Iterable[str] = (),
    **context: Any,
) -> HTMLResponse:
    """Render `template` with `context` (plus `csrf_token`, `csrf_field` and `stylesheet`),
    with the page headers, and the CSRF cookie if the request had none."""
    token = csrf_token(request)
    html = _ENV.get_template(template).render(
        csrf_token=token, csrf_field=CSRF_FIELD, stylesheet=STYLESHEET_PATH, **context
    )
    response = HTMLResponse(html, status_code=status_code)
    security_headers(response, form_action_origins)
    attach_csrf_cookie(request, response)
    return response


def attach_csrf_cookie(request: Request, response: Response) -> None:
    """Set the `ql_csrf` cookie if `csrf_token` made a new token for this request."""
    if getattr(request.state, "ql_csrf_new", False):
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(request),
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A plain HTML error page (the HTML routes never answer JSON or a bare 500)."""
    return render(request, "error.html", status_code=status_code, title=title, message=message)
