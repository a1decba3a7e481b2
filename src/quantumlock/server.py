"""The server process's entry point: what `quantumlock serve` gives uvicorn to load.

A module of its own, importing nothing heavy, so that the app's imports (the bulk of a
cold start) run with the collector paused in every worker (quantumlock.core.startup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantumlock.core.startup import collector_paused

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def create_app_from_env() -> ASGIApp:
    """Factory for uvicorn (`--factory`), so every worker builds its own runtime.

    The client address behind proxies is set by our own middleware (quantumlock.web.proxy,
    right-most untrusted X-Forwarded-For hop), not uvicorn's, whose `*` believes the
    left-most entry, the one the client writes: `serve` runs uvicorn with proxy_headers off.
    """
    with collector_paused():
        from quantumlock.app import create_app
        from quantumlock.settings import Settings
        from quantumlock.web.proxy import ForwardedClientMiddleware

        settings = Settings()
        return ForwardedClientMiddleware(create_app(settings), settings.forwarded_allow_ips)
