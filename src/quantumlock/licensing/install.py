"""The licensing domain's `install` (quantumlock.web.install): /api/v1/licenses."""

from __future__ import annotations

from functools import partial

from quantumlock.core.counters import Counters
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.licensing.cache import ValidationCache, parse_change_ref
from quantumlock.licensing.domain import LicensingDomain
from quantumlock.licensing.endpoints import router, validation_router
from quantumlock.licensing.issuer import LicenseIssuer
from quantumlock.licensing.quota_metrics import QuotaCollector
from quantumlock.licensing.service import CHANGE_KIND_LICENSE, CHANGE_KIND_SIGNING_KEY, SecretCache
from quantumlock.licensing.validation import LicenseValidator, ValidationKey
from quantumlock.licensing.writer import AsyncLicenseWriter, LicenseWriter
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    runtime = infra.runtime
    secrets, cache = SecretCache(), ValidationCache(infra.settings.validation_cache_ttl)
    validations: Counters[ValidationKey] = Counters()
    validator = LicenseValidator(
        cache,
        # A unit of work, not a bare read: an account's first validation may create its
        # HMAC secret. Not the request's: a background refresh outlives its request.
        partial(unit_of_work, runtime.sessions),
        runtime.sealer,
        secrets,
        entropy=runtime.entropy.draw,
        on_hit=runtime.metrics.validation_cache_hit.inc,
        on_miss=runtime.metrics.validation_cache_miss.inc,
        counts=validations,
    )
    issuer = LicenseIssuer(
        partial(unit_of_work, runtime.sessions),
        runtime.sealer,
        secrets,
        runtime.entropy.draw,
        AsyncLicenseWriter(LicenseWriter(runtime.sessions)),
    )
    licensing = LicensingDomain(
        runtime.sessions,
        runtime.sealer,
        runtime.entropy.draw,
        secrets,
        cache,
        validator,
        issuer,
        validations,
        infra.settings.last_used_flush_interval,
    )
    infra.provide("licensing", licensing)
    runtime.metrics.registry.register(QuotaCollector(runtime.sessions))
    cache = licensing.validation_cache
    infra.on_change(CHANGE_KIND_LICENSE, lambda ref: cache.invalidate(*parse_change_ref(ref)))
    infra.on_change(CHANGE_KIND_SIGNING_KEY, lambda ref: issuer.forget(*parse_change_ref(ref)))
    # Validation, the hottest route of all, in a router of its own tried before all others.
    infra.include_router(validation_router, hot=True)
    infra.include_router(router)
    infra.serve_fast("POST", "/api/v1/licenses/validate")
    infra.serve_fast("POST", "/api/v1/licenses/generate")
    # Background reloads under way finish before the engine goes (bounded: one stuck on
    # the database must not hold the shutdown).
    infra.on_shutdown("cache_close", licensing.close, timeout=5.0)
    # Validation history: counted in memory on the validation path, written here.
    infra.background("validation-history-flush", licensing.flush_loop)
    infra.on_shutdown("validation_history_flush", licensing.flush_at_shutdown, timeout=5.0)
