"""The accounts domain's `install` (quantumlock.web.install): /api/v1/customers."""

from __future__ import annotations

from quantumlock.accounts.endpoints import router
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    # Its one change kind (an account's limits) is heard by the auth domain's key cache.
    infra.include_router(router)
