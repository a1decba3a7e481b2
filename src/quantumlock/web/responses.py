"""Responses built from models the handler already validated."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a model the handler built (and so validated) once.

    For a sync handler, FastAPI would otherwise validate the returned model again in a second
    worker-thread hop; on the validation hot path that hop cost as much as the query.
    The route's `response_model` still documents the shape.
    """
    body = type(model).__pydantic_serializer__.to_json(model)
    return Response(body, status_code=status_code, media_type="application/json")
