"""Every error, on every route, is rendered here in the one documented shape."""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantumlock.core.clock import isoformat, utcnow
from quantumlock.core.errors import AppError, RateLimited

log = structlog.get_logger("quantumlock.http")

_STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "INSUFFICIENT_SCOPE",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


def error_codes() -> list[str]:
    """Every `code` an error body can carry (the OpenAPI document's enum): the AppError
    family's, a subclass added anywhere included, then the codes of the HTTP fallbacks."""
    out: list[str] = []
    stack: list[type[AppError]] = [AppError]
    while stack:
        cls = stack.pop(0)
        if cls.code not in out:
            out.append(cls.code)
        stack.extend(cls.__subclasses__())
    for code in (*_STATUS_CODES.values(), "HTTP_ERROR"):
        if code not in out:
            out.append(code)
    return out


def error_body(detail: str, code: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "detail": detail,
        "code": code,
        "timestamp": isoformat(utcnow()),
        "request_id": request_id,
        **extra,
    }


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def app_error_response(request_id: str, exc: AppError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(
        error_body(exc.detail, exc.code, request_id, **exc.extra),
        status_code=exc.status_code,
        headers=headers,
    )


def retry_after_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    request_id = request_id_of(request)
    if isinstance(exc, RateLimited):
        log_refusal(request, request_id, exc)
        count_refusal(request)
    return app_error_response(request_id, exc)


def count_refusal(request: Request) -> None:
    """A 429 of an authenticated key (its rate limit, the monthly quota, a concurrency cap)
    in the key's daily usage (quantumlock.auth.usage). A refusal before a key is known (the
    failed-authentication guard) has no key to count against."""
    state = request.scope.get("state", {})
    key_id, account_id = state.get("key_id"), state.get("account_id")
    runtime = getattr(request.app.state, "runtime", None)
    if key_id and account_id and runtime is not None:
        runtime.key_usage.add((account_id, key_id, int(time.time() // 86400)), 0, 1)


def log_refusal(request: Request, request_id: str, exc: RateLimited) -> None:
    """A 429 as an event an operator can search for: which limit (code and reason), whose
    (account and key ids, never the key), on which route. Info, not a warning: a client
    that ignores Retry-After makes many, and a 429 is the limiter doing its job."""
    state = request.scope.get("state", {})
    route = request.scope.get("route")
    log.info(
        "rate_limited",
        code=exc.code,
        reason=exc.extra.get("reason"),
        detail=exc.detail,
        retry_after=exc.retry_after,
        request_id=request_id,
        account_id=state.get("account_id"),
        key_id=state.get("key_id"),
        route=getattr(route, "path", None),
    )


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    # Drop "input" and "ctx": they echo request data, which may hold a secret.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in errors
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    return validation_error_response(request_id_of(request), exc)


def validation_error_response(request_id: str, exc: RequestValidationError) -> JSONResponse:
    errors = _clean_validation_errors(exc.errors())
    if errors and errors[0].get("type") == "json_invalid":
        detail = "Request body is not valid JSON."
    elif errors:
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"][1:] or first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
    else:
        detail = "Request validation failed."
    return JSONResponse(
        error_body(detail, "VALIDATION_ERROR", request_id, errors=errors),
        status_code=400,
    )


DATA_ERROR_DETAIL = "A value is out of range or not valid for the database."


def data_error_response(request_id: str, exc: DataError) -> JSONResponse:
    """A value the database refused (text with NUL, an integer out of its column's range):
    bad input, so 400. The log names the driver's error class only: the exception's text
    holds the SQL, and its parameters unless the engine hides them (it does: db.engine)."""
    log.warning("database_refused_value", request_id=request_id, error=type(exc.orig).__name__)
    errors = [{"loc": ["body"], "msg": DATA_ERROR_DETAIL, "type": "value_error"}]
    return JSONResponse(
        error_body(DATA_ERROR_DETAIL, "VALIDATION_ERROR", request_id, errors=errors),
        status_code=400,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError)  # noqa: S101
    return data_error_response(request_id_of(request), exc)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """The API's answer to a routing error (404 no route, 405 method): JSON."""
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    status = exc.status_code
    code = _STATUS_CODES.get(status, "HTTP_ERROR")
    detail = str(exc.detail) if exc.detail else "Error."
    if status == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}."
    if status == 400 and code == "VALIDATION_ERROR" and "parsing the body" in detail:
        detail = "Request body could not be parsed."
    return JSONResponse(
        error_body(detail, code, request_id_of(request)),
        status_code=status,
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # A domain's own handler (the portal's HTML pages, falling back to `http_error`) stays.
    if StarletteHTTPException not in app.exception_handlers:
        app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DataError, _data_error)
