"""Installs identity's `clients` part (called by quantumlock.identity.install):
/api/v2/oauth-clients and /api/v2/service-accounts."""

from __future__ import annotations

from quantumlock.identity.clients.endpoints import router
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    infra.include_router(router)
