"""Installs identity's `users` part (called by quantumlock.identity.install): the sign-in
pages and the users API."""

from __future__ import annotations

from quantumlock.identity.users.endpoints import router as pages_router
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    infra.include_router(pages_router)
