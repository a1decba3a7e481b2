"""The OpenAPI document: routes' scopes, both key headers, every error an operation can
answer (in the one documented error shape, never FastAPI's 422), and links between the
operations that create an object and those that read or change it (schemathesis' stateful
tests follow them)."""

from __future__ import annotations

import re
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

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "code", "timestamp", "request_id"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "timestamp": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "retry_after": {"type": "integer", "description": "429: seconds to wait"},
        "reason": {
            "type": "string",
            "enum": ["rate_limit", "monthly_quota"],
            "description": "429: `rate_limit` (retry after `retry_after` seconds) or"
            " `monthly_quota` (the month's licenses are used up: wait for `quota_reset_at`"
            " or raise the plan; do not retry)",
        },
        "quota_reset_at": {
            "type": "string",
            "format": "date-time",
            "description": "429 `monthly_quota`: when the quota resets (UTC, the first"
            " instant of the next calendar month)",
        },
    },
}

_ERROR_DESCRIPTIONS = {
    400: "VALIDATION_ERROR (with `errors`), or another 4xx code of the operation's own",
    401: "UNAUTHORIZED, KEY_EXPIRED or KEY_REVOKED",
    403: "INSUFFICIENT_SCOPE",
    404: "NOT_FOUND (also another tenant's object, and the other mode's)",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMIT_EXCEEDED (`retry_after`; `reason`: `rate_limit`, or `monthly_quota` with"
    " `quota_reset_at`); `Retry-After` header",
    500: "INTERNAL_ERROR (no trace leaks)",
    503: "QUANTUM_UNAVAILABLE: no entropy source can deliver",
}

# Operations whose services raise Conflict (a lifecycle step that does not apply, a
# completed key-exchange session, a license key that could not be allocated).
_CONFLICTS = re.compile(
    r"^(POST /api/v2/keys/\{key_id\}/rotate"
    r"|PATCH /api/v2/keys/\{key_id\}"
    r"|POST /api/v1/licenses/\{license_key\}/(revoke|suspend|reinstate|renew)"
    r"|POST /api/v1/licenses/generate"
    r"|POST /api/v1/quantum/crypto/key-exchange)$"
)
_BODY_IDS = {"key_id", "session_id"}
# Operations that draw entropy, so can answer 503 QUANTUM_UNAVAILABLE.
_DRAWS_ENTROPY = re.compile(r"^(POST /api/v1/quantum/|POST /api/v1/licenses/generate$)")

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


def _body_has_id(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether the request body names an object (`key_id`, `session_id`): 404 if not found."""
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if _BODY_IDS & set(props):
            return True
    return False


def _error_statuses(name: str, operation: dict[str, Any], schemas: dict[str, Any]) -> list[int]:
    method, path = name.split(" ", 1)
    scopes = operation.get("x-required-scopes")
    statuses = {401, 429, 500}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if scopes:
        statuses.add(403)
    if "{" in path or _body_has_id(operation, schemas):
        statuses.add(404)
    if _CONFLICTS.match(name) or operation.get("x-idempotent"):
        statuses.add(409)
    if method in {"POST", "PUT", "PATCH"}:
        statuses.add(413)
    if _DRAWS_ENTROPY.match(name):
        statuses.add(503)
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def _document_errors(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    components["Error"] = ERROR_SCHEMA
    # The app answers validation errors with 400 VALIDATION_ERROR, never 422.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "security" not in operation:
                # The unauthenticated system routes: readiness answers 503 with its own body.
                if path in {"/health", "/health/ready"}:
                    ok = responses.get("200", {}).get("content")
                    responses["503"] = {"description": "The database does not answer"}
                    if ok:
                        responses["503"]["content"] = ok
                continue
            for status in _error_statuses(f"{method.upper()} {path}", operation, components):
                responses.setdefault(str(status), _error_response(status))
            if operation.get("x-idempotent"):
                _document_idempotency(f"{method.upper()} {path}", responses)


def _document_idempotency(name: str, responses: dict[str, Any]) -> None:
    """The replay header on the answers, and the idempotency codes on the 409."""
    codes = ["CONFLICT"] if _CONFLICTS.match(name) else []
    codes += ["IDEMPOTENCY_KEY_REUSED (the key was used with another request)"]
    codes += ["IDEMPOTENCY_KEY_IN_USE (a request with the key is in flight)"]
    responses["409"] = {**responses["409"], "description": "; ".join(codes)}
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = {
                "description": "`true` when this is the stored answer of an earlier request "
                "with the same Idempotency-Key",
                "schema": {"type": "string", "enum": ["true"]},
            }


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
        _document_errors(schema)
        _add_links(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
