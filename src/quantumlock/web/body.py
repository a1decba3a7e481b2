"""JSON request bodies parsed by pydantic straight from the bytes, for the hottest routes.

A route that declares `body: Model` has FastAPI read the body, parse its Content-Type with
`email.message`, decode the JSON with the standard library and then validate the resulting
dict. `Model.model_validate_json` does the decoding and the validation in one pass in
pydantic-core: about 10 µs less per request (a tenth of a cached license validation
in-process). The errors are the same `RequestValidationError`, so the answer is the same
400 `VALIDATION_ERROR`; `json_body_openapi` keeps the request body in the OpenAPI document.

FastAPI documents this pattern ("Path Operation Advanced Configuration": `openapi_extra` with
a body read in the handler). Routes that are not hot keep the plain `body: Model` form.
One difference: the Content-Type is not looked at, so a JSON body labelled `text/plain`
(or not labelled) is accepted here, where FastAPI's strict check would refuse it.

Both parsers accept NaN, Infinity and 1e400 (and json.loads lone surrogates): every body
has already been held to strict JSON without U+0000 by the middleware before it gets here
(quantumlock.web.hygiene), for these routes and the `body: Model` ones alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

M = TypeVar("M", bound=BaseModel)

# Models whose schemas install_openapi adds to components/schemas.
BODY_MODELS: dict[str, type[BaseModel]] = {}


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as `model`; a 400 VALIDATION_ERROR (via the app's handler) if not."""
    raw = await _body(request)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def _body(request: Request) -> bytes:
    # RequestContextMiddleware buffers every request body and replays it as one message,
    # so one receive() is the whole body; Request.body() would get there through an async
    # generator (~8 us more per request). Anything else takes the general path.
    message = await request.receive()
    if message["type"] != "http.request":
        raise ClientDisconnect
    if not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        return body
    chunks = [message.get("body", b"")]
    async for chunk in request.stream():
        chunks.append(chunk)
    return b"".join(chunks)


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads `model` with `json_body`."""
    BODY_MODELS[model.__name__] = model
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def body_schemas() -> dict[str, Any]:
    """components/schemas entries for every model registered by `json_body_openapi`."""
    out: dict[str, Any] = {}
    for name, model in BODY_MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[name] = schema
    return out
