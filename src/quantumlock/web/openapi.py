"""Publish the routes' required scopes and both key headers in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from quantumlock.web.body import body_schemas

SECURITY_SCHEMES: dict[str, Any] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer qcos_live_…` (or `qcos_test_…`, `qcos_rkey_…`)",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: qcos_live_…`",
    },
}


def route_scopes(dependant: Any) -> list[str] | None:
    """The scopes of the route's `require(...)` dependency, or None if it needs no key."""
    for sub in dependant.dependencies:
        scopes = getattr(sub.call, "required_scopes", None)
        if scopes is not None:
            return list(scopes)
    return None


def _api_routes(app: FastAPI) -> list[tuple[str, set[str], Any]]:
    """(path, methods, dependant) of every documented API route, routers included."""
    out: list[tuple[str, set[str], Any]] = []
    route: Any
    # FastAPI >= 0.16x nests included routers; iter_route_contexts flattens them.
    contexts = getattr(routing, "iter_route_contexts", None)
    routes = contexts(app.routes) if contexts else app.routes
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.include_in_schema:
            out.append((route.path_format, set(route.methods or ()), route.dependant))
    return out


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components["securitySchemes"] = SECURITY_SCHEMES
        # Request bodies the hot routes parse themselves (quantumlock.web.body).
        for name, body_schema in body_schemas().items():
            components.setdefault("schemas", {}).setdefault(name, body_schema)
        for path, methods, dependant in _api_routes(app):
            scopes = route_scopes(dependant)
            if scopes is None:
                continue
            for method in methods:
                operation = schema["paths"].get(path, {}).get(method.lower())
                if operation is not None:
                    # OpenAPI 3.1 allows role names on non-OAuth schemes.
                    operation["security"] = [{"HTTPBearer": scopes}, {"APIKeyHeader": scopes}]
                    if scopes:
                        operation["x-required-scopes"] = scopes
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
