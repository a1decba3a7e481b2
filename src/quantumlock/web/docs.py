"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), and `GET /`.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet
(an air-gapped install, a laptop on a plane) `/docs` was a blank page. Here both pages load
their scripts and styles from this service: the released builds shipped by the pinned
`fastapi-standalone-docs` package (swagger-ui-dist and redoc bundles with their licence
files, served beside them). Only its files are used, not its `StandaloneDocs` class, which
patches FastAPI's module functions for every app in the process.

Nothing on the pages reaches out: Swagger UI's online validator badge is off, ReDoc's
Google Fonts are off, and the ReDoc logo the bundle shows is read from `/redoc/logo-mini.svg`
(the package's build points it at the page's own path). The pages need no key, as the
OpenAPI document does not (ARCHITECTURE: `/docs` needs none).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from quantumlock import __version__

ASSETS_PACKAGE = "fastapi_standalone_docs"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OPENAPI_PATH = "/openapi.json"

# Swagger UI options beyond FastAPI's defaults: no call to validator.swagger.io, and
# requests tried from the page show their duration (rate limits are per minute).
_SWAGGER_PARAMETERS = {"validatorUrl": None, "displayRequestDuration": True}


def links(root: str = "") -> dict[str, str]:
    """Where the documentation lives, for `GET /` (relative to the service's root)."""
    return {
        "docs": root + DOCS_PATH,
        "redoc": root + REDOC_PATH,
        "openapi": root + OPENAPI_PATH,
        "health": root + "/health",
    }


def _root(request: Request) -> str:
    """The prefix a proxy serves this app under (ASGI `root_path`), "" when none."""
    return str(request.scope.get("root_path", "")).rstrip("/")


async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=root + OPENAPI_PATH,
        title="QuantumLock API",
        swagger_js_url=f"{root}{DOCS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_PATH}/fastapi/favicon.png",
        swagger_ui_parameters=_SWAGGER_PARAMETERS,
    )


async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=root + OPENAPI_PATH,
        title="QuantumLock API",
        redoc_js_url=f"{root}{REDOC_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{DOCS_PATH}/fastapi/favicon.png",
        with_google_fonts=False,
    )


async def home(request: Request) -> JSONResponse:
    """A browser follows the redirect to the interactive docs; `curl` without `-L` reads
    where everything is from the body."""
    found = links(_root(request))
    body = {"name": "QuantumLock", "version": __version__, **found}
    return JSONResponse(body, status_code=307, headers={"Location": found["docs"]})


def install_docs(app: FastAPI) -> None:
    """Serve `/`, `/docs`, `/redoc` and their assets (the app is built with FastAPI's own
    `docs_url`/`redoc_url` off; `openapi_url` stays FastAPI's)."""
    for path, endpoint in ((DOCS_PATH, swagger_ui), (REDOC_PATH, redoc), ("/", home)):
        app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
    # Tried after the routes above, so `/docs` itself is the page and `/docs/<file>` a file.
    swagger = StaticFiles(packages=[(ASSETS_PACKAGE, "static/swagger")])
    redoc_files = StaticFiles(packages=[(ASSETS_PACKAGE, "static/redoc")])
    favicon = StaticFiles(packages=[(ASSETS_PACKAGE, "static/fastapi")])
    app.router.routes.extend(
        [
            Mount(f"{DOCS_PATH}/fastapi", app=favicon, name="docs-favicon"),
            Mount(DOCS_PATH, app=swagger, name="docs-assets"),
            Mount(REDOC_PATH, app=redoc_files, name="redoc-assets"),
        ]
    )
