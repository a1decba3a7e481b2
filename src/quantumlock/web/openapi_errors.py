"""The error responses of the OpenAPI document: every status an operation can answer, with
the one error body (`components/schemas/Error`), never FastAPI's 422.

Derived from what each route is, so a new route is documented without a list to update:

* 400 VALIDATION_ERROR: it takes parameters or a body;
* 401 and 429: it authenticates (its `require(...)` dependency; the limiter runs there, and
  failed authentications are limited per address);
* 403: its dependency requires scopes;
* 404: it has path parameters, or its body names an object (`key_id`, `session_id`);
* 409: it takes an `Idempotency-Key` header (a key reused with another body);
* 413: its method has a body the middleware bounds (quantumlock.web.middleware);
* 500: every operation (the middleware turns anything unhandled into it).

What a route's service may raise beyond that (Conflict, QuantumUnavailable, a 400 code of
its own) the route declares with `responses=may_raise(...)`. An error response a route
declares with a model of its own (the readiness check's 503) keeps it.
"""

from __future__ import annotations

from typing import Any

from quantumlock.core.errors import (
    AppError,
    InsufficientScope,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from quantumlock.web.errors import error_codes
from quantumlock.web.middleware import BODY_METHODS

ERROR_REF = "#/components/schemas/Error"
CODES_KEY = "x-error-codes"
IDEMPOTENCY_HEADER = "idempotency-key"
# What a reused or in-flight Idempotency-Key answers (quantumlock.idempotency): 409s of their own.
IDEMPOTENCY_CODES = ("IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_USE")
_BODY_IDS = {"key_id", "session_id"}

_MEANING = {
    400: "the request is not valid (`errors` lists the fields at fault)",
    401: "no valid API key (missing, unknown, expired or revoked)",
    403: "the API key lacks a scope this request needs",
    404: "no such object for this account and mode (another tenant's objects and the other "
    "mode's are not found either)",
    409: "the object's state does not allow this request",
    413: "the request body is too large",
    429: "too many requests; `reason` says which limit (`rate_limit`: the key's or account's "
    "per-minute limit, or failed authentications from this address; `monthly_quota`: the "
    "plan's licenses this month). Wait `Retry-After` seconds",
    500: "internal error (no details leak; quote `request_id`)",
    503: "no entropy source can deliver (a requested source is unavailable or unhealthy)",
}


# On the successes of an operation that takes an Idempotency-Key (quantumlock.web.idempotency).
REPLAYED = {
    "description": "`true` when this is the stored answer of an earlier request with the "
    "same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}


def _family(status: int) -> list[str]:
    """The codes of every AppError with `status` (subclasses included), in definition order."""
    out: list[str] = []
    stack: list[type[AppError]] = [AppError]
    while stack:
        cls = stack.pop(0)
        if cls.status_code == status and cls.code not in out:
            out.append(cls.code)
        stack.extend(cls.__subclasses__())
    return out


def may_raise(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for what a route's service may raise beyond what the document derives
    from the route itself: `@router.post(..., responses=may_raise(Conflict))`."""
    out: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = out.setdefault(error.status_code, {"description": "", CODES_KEY: []})
        entry[CODES_KEY].append(error.code)
    return out


def error_schema() -> dict[str, Any]:
    return {
        "title": "Error",
        "type": "object",
        "description": "Every error, on every route: `detail` says what happened and what to "
        "do, `code` is stable for programs, `request_id` identifies the request in the logs.",
        "required": ["detail", "code", "timestamp", "request_id"],
        "properties": {
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": error_codes()},
            "timestamp": {"type": "string", "format": "date-time"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "400 only: each field at fault",
                "items": {"$ref": "#/components/schemas/FieldError"},
            },
            "retry_after": {"type": "integer", "description": "429 only: seconds to wait"},
            "reason": {
                "type": "string",
                "enum": ["rate_limit", "monthly_quota"],
                "description": "429 only: `rate_limit` (retry after `retry_after` seconds) or"
                " `monthly_quota` (the month's licenses are used up: wait for `quota_reset_at`"
                " or raise the plan; do not retry)",
            },
            "quota_reset_at": {
                "type": "string",
                "format": "date-time",
                "description": "429 `monthly_quota` only: when the quota resets (UTC, the first"
                " instant of the next calendar month)",
            },
        },
    }


FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": 'Where: `["body", "features", 0]`, `["query", "limit"]`',
        },
        "msg": {"type": "string"},
        "type": {"type": ["string", "null"]},
    },
}

HEADERS: dict[str, Any] = {
    "X-Request-Id": {
        "description": "The request's id (yours if you sent a valid `X-Request-Id`)",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Burst size of the tighter of the key's and account's limits",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the burst",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Epoch seconds when the burst is full again",
        "schema": {"type": "integer"},
    },
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
}
_RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _body_has_id(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        schema = media.get("schema", {})
        for ref in [schema.get("$ref", "")] + [s.get("$ref", "") for s in schema.get("anyOf", [])]:
            props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            if _BODY_IDS & set(props):
                return True
    return False


def derived_errors(
    method: str, operation: dict[str, Any], schemas: dict[str, Any]
) -> dict[int, list[str]]:
    """status -> codes the operation can answer, from what the route is (module docstring)."""
    parameters = operation.get("parameters", [])
    out: dict[int, list[str]] = {500: [AppError.code]}
    if parameters or "requestBody" in operation:
        out[400] = [ValidationFailed.code]
    if "security" in operation:
        out[401] = _family(Unauthorized.status_code)
        out[429] = [RateLimited.code]
    if operation.get("x-required-scopes"):
        out[403] = [InsufficientScope.code]
    if any(p.get("in") == "path" for p in parameters) or _body_has_id(operation, schemas):
        out[404] = [NotFound.code]
    if any(
        p.get("in") == "header" and p.get("name", "").lower() == IDEMPOTENCY_HEADER
        for p in parameters
    ):
        out[409] = list(IDEMPOTENCY_CODES)
    if method.upper() in BODY_METHODS:
        out[413] = [PayloadTooLarge.code]
    return out


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    # Inline, not components/headers refs: clients and tools resolve schema refs best.
    return {name: dict(HEADERS[name]) for name in names}


def _is_own_model(response: dict[str, Any]) -> bool:
    """A response the route declared with a model of its own (a component)."""
    for media in response.get("content", {}).values():
        if media.get("schema", {}).get("$ref", ERROR_REF) != ERROR_REF:
            return True
    return False


def document_errors(schema: dict[str, Any]) -> None:
    """Declare every operation's error responses (module docstring), drop the 422s."""
    components = schema["components"]
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = error_schema()
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    # The app answers validation errors with 400 VALIDATION_ERROR, never 422.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for item in schema["paths"].values():
        for method, operation in item.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.pop("422", None)
            statuses = derived_errors(method, operation, schemas)
            for key, declared in responses.items():
                if key.isdigit() and int(key) >= 400 and not _is_own_model(declared):
                    codes = statuses.setdefault(int(key), [])
                    codes += [c for c in declared.get(CODES_KEY, []) if c not in codes]
            for status, codes in sorted(statuses.items()):
                if _is_own_model(responses.get(str(status), {})):
                    continue
                # Declared without may_raise: every code of that status (the idempotency
                # codes only where the operation takes the header).
                family = [c for c in _family(status) if c not in IDEMPOTENCY_CODES]
                codes = codes or family or ["HTTP_ERROR"]
                response: dict[str, Any] = {
                    "description": f"{', '.join(codes)}: {_MEANING.get(status, 'an error')}.",
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                    CODES_KEY: codes,
                }
                if status == 429:
                    response["headers"] = _headers(("Retry-After", *_RATE_HEADERS))
                responses[str(status)] = response
            for key, response in responses.items():
                names: tuple[str, ...] = ("X-Request-Id",)
                if "security" in operation and key.isdigit() and int(key) < 400:
                    names += _RATE_HEADERS
                if operation.get("x-idempotent") and key.startswith("2"):
                    response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED
                headers = response.setdefault("headers", {})
                for name, ref in _headers(names).items():
                    headers.setdefault(name, ref)
            operation["responses"] = dict(sorted(responses.items()))
