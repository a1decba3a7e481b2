"""Input hygiene for every route at once: what no handler should ever see.

Checked in the ASGI middleware (quantumlock.web.middleware), before routing, so the fast
routes and the FastAPI routes are covered alike and no future route can forget it:

* U+0000 anywhere in the path, the query string or a JSON string (key or value).
  PostgreSQL text cannot hold it (psycopg raises DataError: a 500), SQLite stores it and
  C-string consumers truncate at it. No field of the API has a use for it.
* JSON that is not strict RFC 8259: NaN, Infinity, -Infinity, numbers that overflow to an
  infinity (1e400) and unpaired surrogates (\\ud800). Python's json.loads (FastAPI's
  `body: Model`) and pydantic-core's parser (quantumlock.web.body) accept the first four,
  json.loads the last too; stored, they break every later read (no JSON encoder writes
  them back) or reach the database as values it refuses.

Cost: one orjson parse of the body (strict: it refuses all of the second list) -- 0.2 us
for a validate body, 0.4 ms for the largest (2 MiB) crypto body -- and a walk of the
parsed body only when its bytes hold an escaped NUL. A body neither orjson nor json.loads
can parse is left alone: the route answers it as it always has ("not valid JSON", after
authentication).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Scope, Send

from quantumlock.web.errors import error_body

NUL_DETAIL = "Strings must not contain U+0000 (NUL)."
STRICT_JSON_DETAIL = (
    "Request body is not strict JSON: NaN, Infinity, numbers out of range and unpaired "
    "surrogates are refused."
)


@dataclass(frozen=True)
class Refusal:
    detail: str
    loc: tuple[str, ...]
    type: str


def refusal(scope: Scope, body: bytes | None) -> Refusal | None:
    """Why this request must be answered 400 VALIDATION_ERROR before any handler; None if
    it may go on."""
    if "\x00" in scope["path"]:
        return Refusal(NUL_DETAIL, ("path",), "string_nul")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return Refusal(NUL_DETAIL, ("query",), "string_nul")
    if body:
        return json_refusal(body)
    return None


def json_refusal(raw: bytes) -> Refusal | None:
    """A body that a lenient JSON parser would accept but must be refused; None otherwise
    (strict and clean JSON, or not JSON at all)."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            json.loads(raw)
        except ValueError:  # not JSON for anyone: the route's own answer stands
            return None
        except RecursionError:  # deeper than json.loads goes: a 500 in FastAPI's parse
            pass
        return Refusal(STRICT_JSON_DETAIL, ("body",), "json_invalid")
    # A NUL reaches a string only as the escape \u0000 (a raw control byte is invalid JSON).
    if b"\\u0000" in raw and _holds_nul(parsed):
        return Refusal(NUL_DETAIL, ("body",), "string_nul")
    return None


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def send_refusal(send: Send, request_id: str, found: Refusal) -> None:
    """The documented 400 VALIDATION_ERROR body, as the app's validation errors render."""
    errors = [{"loc": list(found.loc), "msg": found.detail, "type": found.type}]
    body = orjson.dumps(error_body(found.detail, "VALIDATION_ERROR", request_id, errors=errors))
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
