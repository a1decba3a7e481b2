"""The route label of a request that was answered before routing chose a route.

The access log and the metrics label each request with its route template
(`/api/v1/licenses/{license_key}`), which routing leaves in `scope["route"]`. Some answers
come before routing: a 413 from the body limit, a hygiene 400 (quantumlock.web.hygiene), an
error raised before the router ran. Those are labelled here with the template their path
and method would have been routed to, so a dashboard sees them on their real route, and a
raw path (unbounded: a license key, or whatever a scanner sends) never becomes a label.
A path no route matches is `unmatched`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

from fastapi import routing

UNMATCHED = "unmatched"


def _contexts(routes: Iterable[Any]) -> Iterable[Any]:
    # FastAPI >= 0.16x nests included routers; iter_route_contexts flattens them.
    flatten = getattr(routing, "iter_route_contexts", None)
    return flatten(routes) if flatten else routes


class RouteLabels:
    """Every route's (regex, methods, template), read from the app on first use."""

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], frozenset[str] | None, str]] | None = None

    def _build(self, app: Any) -> list[tuple[re.Pattern[str], frozenset[str] | None, str]]:
        table = []
        for route in _contexts(getattr(app, "routes", ())):
            regex = getattr(route, "path_regex", None)
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            if regex is None or not template:
                continue
            methods = getattr(route, "methods", None)
            table.append((regex, frozenset(methods) if methods else None, str(template)))
        return table

    def label(self, scope: MutableMapping[str, Any]) -> str:
        """The template routing would have matched for this method and path (a known path
        with another method, a 405, gets its template too); `unmatched` if none."""
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if template:
            return str(template)
        if self._table is None:
            app = scope.get("app")
            if app is None:
                return UNMATCHED
            self._table = self._build(app)
        path, method = scope.get("path", ""), scope.get("method", "")
        other_method: str | None = None
        for regex, methods, candidate in self._table:
            if regex.match(path):
                if methods is None or method in methods:
                    return candidate
                other_method = other_method or candidate
        return other_method or UNMATCHED
