"""The licensing domain's `install` (quantumlock.web.install): /api/v1/licenses."""

from __future__ import annotations

from quantumlock.licensing.cache import ValidationCache, parse_change_ref
from quantumlock.licensing.domain import LicensingDomain
from quantumlock.licensing.endpoints import router, validation_router
from quantumlock.licensing.service import CHANGE_KIND_LICENSE, SecretCache
from quantumlock.licensing.writer import LicenseWriter
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    runtime = infra.runtime
    licensing = LicensingDomain(
        runtime.sessions,
        runtime.sealer,
        runtime.entropy.draw,
        SecretCache(),
        ValidationCache(infra.settings.validation_cache_ttl),
        LicenseWriter(runtime.sessions),
    )
    infra.provide("licensing", licensing)
    cache = licensing.validation_cache
    infra.on_change(CHANGE_KIND_LICENSE, lambda ref: cache.invalidate(*parse_change_ref(ref)))
    # Validation, the hottest route of all, in a router of its own tried before all others.
    infra.include_router(validation_router, hot=True)
    infra.include_router(router)
    infra.serve_fast("POST", "/api/v1/licenses/validate")
    # Background reloads under way finish before the engine goes (bounded: one stuck on
    # the database must not hold the shutdown).
    infra.on_shutdown("cache_close", licensing.close, timeout=5.0)
