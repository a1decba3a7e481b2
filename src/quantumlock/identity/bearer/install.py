"""Installs identity's `bearer` part (called by quantumlock.identity.install)."""

from __future__ import annotations

from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    del infra  # filled in by the bearer work
