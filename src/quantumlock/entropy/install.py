"""The entropy domain's `install` (quantumlock.web.install): /api/v1/quantum/health|entropy.

The entropy service itself is infrastructure (quantumlock.runtime): licensing and crypto
draw from it too.
"""

from __future__ import annotations

from quantumlock.entropy.endpoints import router
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    infra.include_router(router)
    infra.serve_fast("POST", "/api/v1/quantum/entropy")
