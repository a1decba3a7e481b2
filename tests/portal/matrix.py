"""The portal's tenant-isolation matrix: each area lists, in tests/portal/matrix_<area>.py,
a `CASES: list[Case]` with one case per route that takes a path parameter. The matrix test
(test_portal_isolation_matrix.py) makes the object in another account, asks for it as an
owner of the first, and wants the 404 page; a portal route with a path parameter and no case
fails the coverage test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute

from tests.conftest import AccountFixture

# Routes that take a path parameter but name no account object.
NOT_OBJECTS = {("GET", "/portal/static/{name}")}


@dataclass(frozen=True)
class Case:
    method: str  # "GET" or "POST" (a POST is sent with a valid CSRF token of the asker)
    path: str  # the route's path template, e.g. "/portal/settings/api-keys/{key_id}/revoke"
    # Makes the object in the given account (the victim's) and returns the path parameters.
    make: Callable[[FastAPI, AccountFixture], dict[str, str]]
    # Form fields for a POST (besides the CSRF token), so only ownership can refuse it.
    form: dict[str, str] | None = None


def portal_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every GET and POST portal route."""
    # FastAPI >= 0.16x nests included routers; iter_route_contexts flattens them.
    contexts = getattr(routing, "iter_route_contexts", None)
    route: Any
    found: set[tuple[str, str]] = set()
    for route in contexts(app.routes) if contexts else app.routes:
        original = getattr(route, "original_route", route)
        path = getattr(route, "path_format", "")
        if isinstance(original, APIRoute) and path.startswith("/portal"):
            found.update((m, path) for m in route.methods or () if m in ("GET", "POST"))
    return found
