"""How a domain joins the app: `install(infra)`, one function per domain package.

`create_app` builds the infrastructure (`quantumlock.runtime.Runtime`), then calls each
domain's `install` in the order of `quantumlock.app.DOMAINS`. A domain builds its own
caches and services there and registers, through `Infra`, everything the app must know of
it: routers, fast routes, the change kinds it listens to, background work, shutdown steps,
its state (reachable from a request as `request.app.state.<name>`) and, for the one domain
that does it, authentication. Nothing else names a domain, so adding one is one line in
`DOMAINS` (tests/unit/test_domain_install.py adds a toy domain that way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response

from quantumlock.runtime import Background, Runtime, Shutdown
from quantumlock.settings import Settings
from quantumlock.web.security import Authenticator


class Domain(Protocol):
    """A domain package's `install` module."""

    def install(self, infra: Infra) -> None: ...


class Infra:
    def __init__(self, runtime: Runtime, app: FastAPI) -> None:
        self.runtime = runtime
        self._app = app
        self._hot_routers: list[APIRouter] = []
        self._routers: list[APIRouter] = []
        self.fast_paths: list[tuple[str, str]] = []

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def include_router(self, router: APIRouter, *, hot: bool = False) -> None:
        """`hot`: tried before every other router (the router tries routes in order, and
        each route passed over costs a few microseconds)."""
        (self._hot_routers if hot else self._routers).append(router)

    def serve_fast(self, method: str, path: str) -> None:
        """Answer `method path` (a route of this domain's routers) past FastAPI's route
        machinery when QL_FAST_PATHS is on (quantumlock.web.fastpath)."""
        self.fast_paths.append((method, path))

    def on_change(self, kind: str, listener: Callable[[str], None]) -> None:
        """Call `listener(ref)` for each change of `kind` (`quantumlock.db.changes`) once it
        commits, in this process or any other."""
        self.runtime.changes.subscribe(kind, listener)

    def background(self, name: str, run: Background) -> None:
        self.runtime.background(name, run)

    def on_shutdown(self, name: str, close: Shutdown, *, timeout: float | None = None) -> None:
        self.runtime.on_shutdown(name, close, timeout=timeout)

    def provide(self, name: str, state: object) -> None:
        """The domain's per-app state, for its endpoints: `request.app.state.<name>`."""
        if hasattr(self._app.state, name):
            raise ValueError(f"app.state.{name} is taken")
        setattr(self._app.state, name, state)

    def exception_handler(
        self,
        exc_class: type[Exception],
        handler: Callable[[Request, Exception], Awaitable[Response]],
    ) -> None:
        """Render `exc_class` raised by any route with `handler`."""
        self._app.add_exception_handler(exc_class, handler)

    def authenticate_with(self, authenticator: Authenticator) -> None:
        self.provide("authenticator", authenticator)

    def wrap_authenticator(self, wrap: Callable[[Authenticator], Authenticator]) -> None:
        """Put `wrap(installed)` in place of the installed authenticator: a domain that knows
        another kind of credential (identity's OAuth access tokens) answers those itself and
        hands every other one to the authenticator it wraps."""
        installed: Authenticator | None = getattr(self._app.state, "authenticator", None)
        if installed is None:
            raise LookupError("No authenticator installed to wrap (install auth first).")
        self._app.state.authenticator = wrap(installed)

    def include_routers(self) -> None:
        """Called by create_app once every domain is installed."""
        for router in (*self._hot_routers, *self._routers):
            self._app.include_router(router)
