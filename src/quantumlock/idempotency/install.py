"""The idempotency domain's `install` (quantumlock.web.install): no routes of its own; every
creating or changing POST takes `Idempotency-Key` through quantumlock.web.idempotency."""

from __future__ import annotations

from quantumlock.idempotency.domain import IdempotencyDomain
from quantumlock.web.idempotency import IdempotentReplay, replay_response
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    runtime = infra.runtime
    domain = IdempotencyDomain(runtime.sessions, runtime.sealer)
    infra.provide("idempotency", domain)
    infra.exception_handler(IdempotentReplay, replay_response)
    infra.background("idempotency-prune", domain.prune_loop)
