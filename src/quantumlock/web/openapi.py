"""The OpenAPI document: routes' scopes, both key headers, every error an operation can
answer (quantumlock.web.openapi_errors: the one documented error shape, never FastAPI's
422), and links between the operations that create an object and those that read or change
it (schemathesis' stateful tests follow them)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from quantumlock.web.body import body_schemas
from quantumlock.web.openapi_errors import document_errors, may_raise

__all__ = ["install_openapi", "may_raise", "route_scopes"]

API_DESCRIPTION = """API-key identity, software licensing and quantum-seeded cryptography.

**Authentication.** Every `/api` route takes an API key as `Authorization: Bearer <key>` or
`X-API-Key: <key>`; each operation lists the scopes it needs (`admin` implies all).
Responses to authenticated requests carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`; live-mode license responses also `X-Quota-Limit`, `X-Quota-Remaining`
and `X-Quota-Reset`.

**Errors.** Every error is JSON `{"detail", "code", "timestamp", "request_id"}` (the `Error`
schema), with `errors` on 400 and `retry_after` and `reason` on 429 (also a `Retry-After`
header); each operation lists the statuses it can answer and their codes (`x-error-codes`).
Invalid input is always 400 `VALIDATION_ERROR`, never 422; a path or query string holding
U+0000 is refused so on any route.

**Modes.** A `qcos_test_` key works in test mode: what it creates is invisible to live keys
and counts against no quota.
"""

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

# (operation, status) -> {link name: (target operation, parameters)}: create -> read/change.
_LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("POST /api/v1/licenses/generate", "201"): {
        f"{verb}License": (target, {"license_key": "$response.body#/license_key"})
        for verb, target in (
            ("Get", "GET /api/v1/licenses/{license_key}"),
            ("Revoke", "POST /api/v1/licenses/{license_key}/revoke"),
            ("Suspend", "POST /api/v1/licenses/{license_key}/suspend"),
            ("Reinstate", "POST /api/v1/licenses/{license_key}/reinstate"),
            ("Renew", "POST /api/v1/licenses/{license_key}/renew"),
            ("GetEventsOf", "GET /api/v1/licenses/{license_key}/events"),
        )
    },
    ("POST /api/v2/keys", "201"): {
        "GetKey": ("GET /api/v2/keys/{key_id}", {"key_id": "$response.body#/data/id"}),
        "UpdateKey": ("PATCH /api/v2/keys/{key_id}", {"key_id": "$response.body#/data/id"}),
        "RevokeKey": ("DELETE /api/v2/keys/{key_id}", {"key_id": "$response.body#/data/id"}),
        "RotateKey": ("POST /api/v2/keys/{key_id}/rotate", {"key_id": "$response.body#/data/id"}),
    },
    ("POST /api/v1/quantum/keys", "201"): {
        "GetKey": ("GET /api/v1/quantum/keys/{key_id}", {"key_id": "$response.body#/key_id"}),
        "DestroyKey": (
            "DELETE /api/v1/quantum/keys/{key_id}",
            {"key_id": "$response.body#/key_id"},
        ),
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


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def _add_links(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    for (source, status), links in _LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        out = response.setdefault("links", {})
        for link_name, (target, parameters) in links.items():
            if target in operations:
                out[link_name] = {
                    "operationId": operations[target]["operationId"],
                    "parameters": parameters,
                }


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
        document_errors(schema)
        _add_links(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
