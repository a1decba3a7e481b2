"""The auth domain's `install` (quantumlock.web.install): key cache, authentication, /api/v2."""

from __future__ import annotations

from quantumlock.accounts.service import CHANGE_KIND_ACCOUNT
from quantumlock.auth.authenticator import ApiKeyAuthenticator
from quantumlock.auth.cache import KeyCache
from quantumlock.auth.domain import AuthDomain
from quantumlock.auth.endpoints import router
from quantumlock.auth.service import CHANGE_KIND_KEY
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    runtime = infra.runtime
    auth = AuthDomain(
        runtime.sessions,
        runtime.hasher,
        KeyCache(infra.settings.key_cache_ttl),
        infra.settings.last_used_flush_interval,
        key_usage=runtime.key_usage,
    )
    infra.provide("auth", auth)
    infra.authenticate_with(ApiKeyAuthenticator(auth, runtime.metrics))
    infra.on_change(CHANGE_KIND_KEY, auth.key_cache.invalidate_key)
    # An account's limits are part of every principal of its keys.
    infra.on_change(CHANGE_KIND_ACCOUNT, auth.key_cache.invalidate_account)
    infra.include_router(router)
    # What SDKs call to check a key at start-up, and health checks with a key call on a timer.
    infra.serve_fast("GET", "/api/v2/me")
    infra.background("usage-flush", auth.flush_loop)
    infra.on_shutdown("usage_flush", auth.close)
    # Loads under way finish on this event loop, bounded (quantumlock.core.cache).
    infra.on_shutdown("key_cache_close", auth.key_cache.aclose, timeout=5.0)
