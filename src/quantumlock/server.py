"""The server process's entry point: what `quantumlock serve` gives uvicorn to load.

A module of its own, importing nothing heavy, so that the app's imports (the bulk of a
cold start) run with the collector paused in every worker (quantumlock.core.startup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantumlock.core.startup import collector_paused

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn (`--factory`), so every worker builds its own runtime."""
    with collector_paused():
        from quantumlock.app import create_app

        return create_app()
