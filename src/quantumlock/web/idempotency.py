"""`Idempotency-Key` on creating and changing POSTs: the HTTP side of quantumlock.idempotency.

A handler wraps its unit of work and hands its response to `answer` inside it, so the answer
is committed with the effect:

    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        ...
        return idem.answer(session, model_response(out, 201))

Without the header nothing changes. With it, the key is claimed first (its own short
transaction); a stored answer is replayed (`IdempotentReplay`, rendered by the installed
handler with `Idempotent-Replayed: true`), another request's key is 409
`IDEMPOTENCY_KEY_REUSED`, a key in flight 409 `IDEMPOTENCY_KEY_IN_USE`. Only 2xx answers are
stored: an error means the request's transaction rolled back, so nothing happened and a
retry executes again (Stripe stores 4xx answers of requests that began executing; here no
error leaves an effect behind, so executing again gives the same or the current answer).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from types import TracebackType
from typing import Any

import orjson
import structlog
from anyio import to_thread
from fastapi import Request, Response
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.core.errors import ValidationFailed
from quantumlock.idempotency.domain import idempotency_of
from quantumlock.idempotency.service import Claim, StoredAnswer

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_HEADER = HEADER.lower().encode()
# Printable ASCII, 1-255 characters (Stripe's limit); a UUID v4 is what clients should send.
_VALID = re.compile(rb"^[\x20-\x7e]{1,255}$")
# Response headers that belong to this response, not to the answer (the middleware adds
# the request id and the rate limit's; the length is recomputed).
_NOT_STORED = frozenset({"content-length", "x-request-id", "idempotency-key"})


# `openapi_extra` of every route that takes the header (quantumlock.web.openapi documents
# the 409s and the replay header of the operations so marked).
IDEMPOTENT_OPENAPI: dict[str, Any] = {
    "x-idempotent": True,
    "parameters": [
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": "Makes the request safe to retry: the same key with the same "
            "request within 24 hours returns the first answer (with `Idempotent-Replayed: "
            "true`) instead of acting again. 1-255 printable ASCII characters; send a new "
            "UUID per logical request. Keys are per account and mode.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[!-~]([ -~]*[!-~])?$",
            },
        }
    ],
}


class IdempotentReplay(Exception):
    """Raised on entering `idempotent` when the key's answer is stored: the response."""

    def __init__(self, response: Response) -> None:
        super().__init__("idempotent replay")
        self.response = response


async def replay_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)  # noqa: S101 - registered for this class only
    return exc.response


def idempotency_key(request: Request) -> str | None:
    """The request's `Idempotency-Key`, None without one; 400 VALIDATION_ERROR if malformed."""
    for name, value in request.scope["headers"]:
        if name == _HEADER:
            if not _VALID.match(value) or not value.strip():
                error = ValidationFailed(
                    f"{HEADER} must be 1 to 255 printable ASCII characters (e.g. a UUID)."
                )
                error.extra["errors"] = [
                    {"loc": ["header", HEADER], "msg": error.detail, "type": "value_error"}
                ]
                raise error
            return str(value.decode("ascii"))
    return None


def fingerprint(request: Request) -> str:
    """SHA-256 over method, path and body; a JSON body canonically (key order and spacing do
    not make a different request)."""
    body: bytes = request.scope.get("state", {}).get("body") or b""
    if body:
        # Not JSON: the bytes as they are.
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.scope["path"].encode()):
        digest.update(part + b"\x00")
    digest.update(body)
    return digest.hexdigest()


class idempotent:
    """See the module docstring. `with idempotent(request, principal) as idem: ...`"""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal
        self.claim: Claim | None = None
        self.key: str | None = None
        self.answered = False

    def __enter__(self) -> idempotent:
        if self.key is None:
            self.key = idempotency_key(self.request)
        if self.key is None:
            return self
        domain = idempotency_of(self.request)
        p = self.principal
        with self.request.app.state.runtime.unit_of_work() as session:
            outcome = domain.service(session).claim(
                p.account_id, p.mode.value, self.key, fingerprint(self.request)
            )
        if isinstance(outcome, StoredAnswer):
            raise IdempotentReplay(self._replay(outcome))
        self.claim = outcome
        return self

    async def __aenter__(self) -> idempotent:
        """For a handler on the event loop: the claim's transaction in a worker thread (none
        without the header)."""
        self.key = idempotency_key(self.request)
        if self.key is None:
            return self
        return await to_thread.run_sync(self.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.claim is not None and not (self.answered and exc is None):
            await to_thread.run_sync(self.__exit__, exc_type, exc, tb)
        self.claim = None

    def answer(
        self, session: Session, response: Response, *, quota: tuple[Any, ...] | None = None
    ) -> Response:
        """Store `response` as the key's answer in `session` (the effect's transaction).

        `quota`: the X-Quota-* values to replay, when they are not in the request's state yet.
        """
        if self.claim is not None and 200 <= response.status_code < 300:
            headers = tuple(
                (name, value) for name, value in response.headers.items() if name not in _NOT_STORED
            )
            if quota is None:
                quota = self.request.scope["state"].get("quota")
            stored = StoredAnswer(response.status_code, bytes(response.body), headers, quota)
            idempotency_of(self.request).service(session).answer(self.claim, stored)
            self.answered = True
        return self.answer_headers(response)

    def answer_headers(self, response: Response) -> Response:
        """`response` with the key echoed, as Stripe does (when one was given)."""
        if self.key is not None:
            response.headers[HEADER] = self.key
        return response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Not answered, or the answer's transaction failed: the key is free again. (After an
        # answer was committed the release deletes nothing: it spares answers.)
        claim, self.claim = self.claim, None
        if claim is None or (self.answered and exc is None):
            return
        try:
            with self.request.app.state.runtime.unit_of_work() as session:
                idempotency_of(self.request).service(session).release(claim)
        except Exception:  # the claim then lapses after LOCK_TIMEOUT
            log.warning("idempotency_release_failed", exc_info=True)

    def _replay(self, stored: StoredAnswer) -> Response:
        if stored.quota is not None:
            self.request.scope["state"]["quota"] = stored.quota
        response = Response(stored.body, status_code=stored.status_code)
        for name, value in stored.headers:
            response.headers[name] = value
        response.headers[REPLAYED_HEADER] = "true"
        return self.answer_headers(response)
