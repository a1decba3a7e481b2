"""Installs the portal (quantumlock.web.install): its pages, its static files, and how its
errors are answered (HTML pages, never the API's JSON)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantumlock.portal.api_keys import router as api_keys_router
from quantumlock.portal.audit import router as audit_router
from quantumlock.portal.core import (
    STATIC,
    STATIC_PREFIX,
    NeedsSignIn,
    PortalError,
    login_path,
    portal_context,
    render_page,
    security_headers,
    see_other,
)
from quantumlock.portal.entropy import router as entropy_router
from quantumlock.portal.forgot import router as forgot_router
from quantumlock.portal.keystore import router as keystore_router
from quantumlock.portal.licenses import router as licenses_router
from quantumlock.portal.self import router as self_router
from quantumlock.portal.signin import router as signin_router
from quantumlock.portal.sso import router as sso_router
from quantumlock.portal.team import router as team_router
from quantumlock.portal.usage import router as usage_router
from quantumlock.web.errors import http_error
from quantumlock.web.install import Infra

_static = APIRouter(include_in_schema=False)
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
# The portal's own files (no CDN): the names are fixed here, so no path reaches the disk.
_FILES = {p.name: p for p in STATIC.iterdir() if p.suffix in _TYPES}


@_static.get(STATIC_PREFIX + "/{name}")
async def static_file(name: str) -> Response:
    path = _FILES.get(name)
    if path is None:
        missing = Response("Not found", status_code=404, media_type="text/plain")
        security_headers(missing)
        return missing
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


async def _portal_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PortalError):  # registered for PortalError only
        raise exc
    try:
        ctx = await portal_context(request)
    except (NeedsSignIn, PortalError):  # the page without the menu
        ctx = None
    return render_page(
        request,
        "error.html",
        status_code=exc.status_code,
        ctx=ctx,
        title=exc.title,
        message=exc.message,
        back=None,
        back_text=None,
    )


_ROUTING = {
    404: ("Not found", "There is no such page in the portal."),
    405: ("Not allowed", "This page does not take this kind of request."),
}


async def _http_error(request: Request, exc: Exception) -> Response:
    """A routing error (no such page, wrong method) under /portal is a portal page with the
    portal's headers (no framing, no-store); elsewhere the API's JSON."""
    if not isinstance(exc, StarletteHTTPException):  # registered for HTTPException only
        raise exc
    path = request.url.path
    if path != "/portal" and not path.startswith("/portal/"):
        return await http_error(request, exc)
    title, message = _ROUTING.get(exc.status_code, ("Bad request", "This request is not valid."))
    # No session look-up: an unknown address costs no database work.
    response = render_page(
        request,
        "error.html",
        status_code=exc.status_code,
        title=title,
        message=message,
        back=None,
        back_text=None,
    )
    for name, value in (exc.headers or {}).items():  # 405's Allow
        response.headers[name] = value
    return response


async def _needs_sign_in(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, NeedsSignIn):  # registered for NeedsSignIn only
        raise exc
    return see_other(login_path(exc.next_path))


ROUTERS: tuple[APIRouter, ...] = (
    signin_router,
    forgot_router,
    self_router,
    api_keys_router,
    licenses_router,
    usage_router,
    keystore_router,
    entropy_router,
    team_router,
    sso_router,
    audit_router,
)


def install(infra: Infra) -> None:
    infra.include_router(_static)
    for router in ROUTERS:
        infra.include_router(router)
    infra.exception_handler(PortalError, _portal_error)
    infra.exception_handler(NeedsSignIn, _needs_sign_in)
    infra.exception_handler(StarletteHTTPException, _http_error)
