"""The audit domain's `install` (quantumlock.web.install): /api/v2/audit."""

from __future__ import annotations

from quantumlock.audit.endpoints import router
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    infra.include_router(router)
