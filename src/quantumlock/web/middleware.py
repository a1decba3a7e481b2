"""The one ASGI middleware around the app (pure ASGI: BaseHTTPMiddleware costs too much).

It gives every request an id, bounds the body size, adds the id and the limiter's headers
to every response (errors included), turns anything unhandled into the documented 500, and
writes one JSON log line and the metrics per request.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantumlock.observability.logging import access_log, flush_logs
from quantumlock.observability.metrics import Metrics
from quantumlock.web.errors import error_body
from quantumlock.web.fastpath import FastRoutes
from quantumlock.web.hygiene import refusal, send_refusal
from quantumlock.web.labels import RouteLabels

log = structlog.get_logger("quantumlock.http")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Methods whose body is read (and bounded: 413) before the app; the OpenAPI document
# declares the 413 on them (quantumlock.web.openapi_errors).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        access_log: bool = True,
        body_limits: Mapping[str, int] | None = None,
        fast_routes: FastRoutes | None = None,
    ) -> None:
        self.app = app
        # Routes answered here, past FastAPI's routing (quantumlock.web.fastpath).
        self.fast = fast_routes
        self.metrics = metrics
        self.max_body = max_body_bytes
        # Path prefix -> a larger body limit (e.g. the crypto routes, whose base64 payloads
        # may carry 1 MiB of data).
        self.body_limits = tuple((body_limits or {}).items())
        self.access_log = access_log
        # The route label of requests answered before (or without) routing.
        self.labels = RouteLabels()
        # Request ids need to be unique, not secret: a random per-process prefix and a
        # counter avoid a getrandom(2) per request.
        self._id_prefix = "req_" + secrets.token_hex(6)
        self._id_counter = itertools.count(1)

    def _next_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):08x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = (
            incoming.decode()
            if incoming and _VALID_REQUEST_ID.match(incoming.decode("latin-1"))
            else self._next_request_id()
        )
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_holder = [500]
        started = [False]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_limit_headers(state))
                message["headers"] = headers
            await send(message)

        limit = self.max_body
        for prefix, larger in self.body_limits:
            if scope["path"].startswith(prefix):
                limit = larger
        try:
            body: bytes | None = None
            if scope["method"] in BODY_METHODS:
                receive, body = await self._buffer_body(scope, receive, limit)
                # What an Idempotency-Key's fingerprint is taken over (quantumlock.web.idempotency).
                state["body"] = body
            # NUL in the path, query or a JSON string; non-strict JSON (quantumlock.web.hygiene).
            refused = refusal(scope, body)
            if refused is not None:
                await send_refusal(send_wrapper, request_id, refused)
            elif not (self.fast and await self.fast.dispatch(scope, receive, send_wrapper)):
                await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            await self._send_error(
                send_wrapper,
                413,
                "PAYLOAD_TOO_LARGE",
                f"Request body exceeds {limit} bytes.",
                request_id,
            )
        except Exception:
            # The route's template, not the path: a path may hold a license key.
            log.exception("unhandled_error", request_id=request_id, route=self.labels.label(scope))
            flush_logs()
            if not started[0]:
                await self._send_error(
                    send_wrapper, 500, "INTERNAL_ERROR", "Internal server error.", request_id
                )
        finally:
            self._observe(scope, state, status_holder[0], time.perf_counter() - start)

    async def _buffer_body(
        self, scope: Scope, receive: Receive, limit: int
    ) -> tuple[Receive, bytes | None]:
        """Read the whole body up front (bounded), then replay it to the app; the body too
        (None if the client went away before sending it all)."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        whole: bytes | None = None
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # Client went away; let the app see the disconnect as it would have.
                pending: list[Message] = [message]
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(body)
            if not message.get("more_body", False):
                whole = b"".join(chunks)
                pending = [{"type": "http.request", "body": whole, "more_body": False}]
                break

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replay, whole

    @staticmethod
    async def _send_error(send: Send, status: int, code: str, detail: str, request_id: str) -> None:
        body = orjson.dumps(error_body(detail, code, request_id))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, state: dict[str, Any], status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or self.labels.label(scope)
        self.metrics.observe_request(scope["method"], template, status, elapsed)
        if self.access_log:
            access_log(
                request_id=state.get("request_id"),
                method=scope["method"],
                route=template,
                status=status,
                latency_ms=round(elapsed * 1000, 3),
                key_id=state.get("key_id"),
                account_id=state.get("account_id"),
            )


def _limit_headers(state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    decision = state.get("rate_limit")
    if decision is not None:
        out.append((b"x-ratelimit-limit", str(decision.limit).encode()))
        out.append((b"x-ratelimit-remaining", str(decision.remaining).encode()))
        out.append((b"x-ratelimit-reset", str(math.ceil(decision.reset_at)).encode()))
    quota = state.get("quota")
    if quota is not None:
        limit, remaining, reset = quota
        out.append((b"x-quota-limit", str(limit).encode()))
        out.append((b"x-quota-remaining", str(remaining).encode()))
        out.append((b"x-quota-reset", str(reset).encode()))
    return out
