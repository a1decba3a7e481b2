"""Hot routes served straight from the ASGI middleware, past FastAPI's route machinery.

Online validation is what every shipped copy of a customer's application calls, and entropy
and encryption are called per operation. Through FastAPI, a cached validation spent more
than half of its CPU time in the framework: routing, `solve_dependencies` for the one auth
dependency, the request/response wrappers and the exception middleware (in-process on the
build VM: 229 µs per request through FastAPI, 130 µs here, 73 µs for a hello-world route).

A fast route is an ordinary FastAPI route, which documents it (OpenAPI, scopes) and serves
it when `QL_FAST_PATHS=false`. `FastRoutes.add` accepts only a route whose whole signature
is `(request, principal = require(...))` and which returns a Response itself: then
answering it here means calling the *same* two functions FastAPI would call (the route's
auth dependency, then its endpoint) and nothing else, and rendering what they raise with
the handler the app's ExceptionMiddleware would choose: every handler the app has
(`app.exception_handlers`, looked up as Starlette does: by status code for an
HTTPException, else along the exception's MRO). An exception no handler takes still ends
as the middleware's 500. tests/api/test_fast_paths_api.py sends one battery of requests
both ways and requires the same answers, and raises each handled exception type both ways.

FastAPI internals this relies on (hence the pinned range in pyproject.toml): `APIRoute.
dependant` and the `Dependant` fields read below (`dependencies`, `call`, `name`,
`request_param_name`, `path_params`, `query_params`, `header_params`, `cookie_params`,
`body_params`); `original_router` on the wrappers of included routers (0.16x); Starlette's
`app.exception_handlers` and the lookup rule above (`starlette._exception_handler`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Any]


class FastRoutes:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._routes: dict[tuple[str, str], tuple[APIRoute, Handler]] = {}

    def add(self, method: str, path: str) -> None:
        """Serve the app's route `method path` from here (see the module docstring)."""
        for route in _api_routes(self._app.routes):
            if route.path == path and method in (route.methods or ()):
                self._routes[(method, path)] = (route, _handler(route))
                return
        raise LookupError(f"No FastAPI route {method} {path} to serve fast")

    def __bool__(self) -> bool:
        return bool(self._routes)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request if it is for a fast route; False to let the app answer it."""
        found = self._routes.get((scope["method"], scope["path"]))
        if found is None:
            return False
        route, handler = found
        # What routing would have set: the matched route (the metrics' and access log's
        # route label). Starlette has set scope["app"] before any middleware runs.
        scope["route"] = route
        request = Request(scope, receive)
        response: Response
        try:
            response = await handler(request)
        except Exception as exc:
            render = self._error_handler(exc)
            if render is None:
                raise
            if inspect.iscoroutinefunction(render):
                response = await render(request, exc)
            else:
                response = await run_in_threadpool(render, request, exc)
            # As Starlette does: a reused exception instance must not grow its traceback.
            exc.__traceback__ = None
        await response(scope, receive, send)
        return True

    def _error_handler(self, exc: Exception) -> ErrorHandler | None:
        """The handler the app's ExceptionMiddleware would pick for `exc` (its
        `wrap_app_handling_exceptions`); read at the time, so a handler added late counts.
        `Exception`/500 handlers belong to ServerErrorMiddleware, outside ours: not here."""
        handlers: dict[Any, ErrorHandler] = self._app.exception_handlers
        if (
            isinstance(exc, HTTPException)
            and exc.status_code != 500
            and exc.status_code in handlers
        ):
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI 0.16x wraps those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        router = getattr(route, "original_router", None)
        if router is not None:
            yield from _api_routes(router.routes)


def _handler(route: APIRoute) -> Handler:
    """`route`'s auth dependency, then its endpoint: what FastAPI would call, nothing else."""
    dependant = route.dependant
    request_name = _request_only(dependant)
    if (
        not inspect.iscoroutinefunction(route.endpoint)
        or request_name is None
        or len(dependant.dependencies) != 1
    ):
        raise TypeError(f"{route.path}: only `async def f(request, principal=require(...))` fits")
    auth = dependant.dependencies[0]
    auth_request_name = _request_only(auth)
    if (
        auth.name is None
        or auth.call is None
        or not inspect.iscoroutinefunction(auth.call)
        or auth.dependencies
        or auth_request_name is None
    ):
        raise TypeError(f"{route.path}: its one dependency must take the request alone")
    endpoint, authenticate, principal_name = route.endpoint, auth.call, auth.name

    async def handle(request: Request) -> Response:
        principal = await authenticate(**{auth_request_name: request})
        response = await endpoint(**{request_name: request, principal_name: principal})
        if not isinstance(response, Response):
            raise TypeError(f"{route.path}: a fast route's endpoint must return a Response")
        return response

    return handle


def _request_only(dependant: Dependant) -> str | None:
    """The request parameter's name, if that is all FastAPI would inject (no path, query,
    header, cookie or body parameters); else None."""
    if (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    ):
        return None
    return dependant.request_param_name
