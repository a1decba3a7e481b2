"""Hot routes served straight from the ASGI middleware, past FastAPI's route machinery.

Online validation is what every shipped copy of a customer's application calls. Through
FastAPI, a cached validation spent more than half of its CPU time in the framework:
routing, `solve_dependencies` for the one auth dependency, the request/response wrappers
and the exception middleware (in-process: 229 µs per request through FastAPI, 99 µs on this
path, 72 µs for a hello-world endpoint, on the same machine).

A fast route is still declared as a normal FastAPI route, which documents it (OpenAPI, its
scopes) and serves it when `QL_FAST_PATHS=false`. Here the same path and method are
answered by a handler that calls the *same* code the FastAPI route calls (`authenticate`,
the body parser, the service), and renders errors with the app's own error functions:
tests/api/test_fast_paths_api.py sends one battery of requests both ways and requires the
same answers. What a fast route does not get from FastAPI: dependency injection (it calls
`authenticate` itself) and the app-level exception handlers (it renders `AppError` and
`RequestValidationError` itself; anything else still ends as the middleware's 500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from quantumlock.core.errors import AppError
from quantumlock.web.errors import app_error_response, request_id_of, validation_error_response

Handler = Callable[[Request], Awaitable[Response]]


class FastRoutes:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._routes: dict[tuple[str, str], tuple[APIRoute, Handler]] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        """Serve `method path` with `handler`; the app must declare the same route."""
        for route in _api_routes(self._app.routes):
            if route.path == path and method in (route.methods or ()):
                self._routes[(method, path)] = (route, handler)
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
        # What Starlette would have set: the app (for its state) and the matched route
        # (for the metrics' and access log's route label).
        scope["app"] = self._app
        scope["route"] = route
        request = Request(scope, receive)
        response: Response
        try:
            response = await handler(request)
        except AppError as exc:
            response = app_error_response(request_id_of(request), exc)
        except RequestValidationError as exc:
            response = validation_error_response(request_id_of(request), exc)
        await response(scope, receive, send)
        return True


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI 0.16x wraps those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        router = getattr(route, "original_router", None)
        if router is not None:
            yield from _api_routes(router.routes)
