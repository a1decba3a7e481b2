"""Installs identity's `oauth` part (called by quantumlock.identity.install): the signing
keys (made at start-up if the database has none, reloaded on every rotation) and the
/oauth and /.well-known routes."""

from __future__ import annotations

import structlog
from anyio import to_thread

from quantumlock.identity.oauth.endpoints import OAuthState, router
from quantumlock.identity.oauth.keys import SigningKeys
from quantumlock.identity.signing import CHANGE_KIND_SIGNING_KEY
from quantumlock.web.install import Infra

log = structlog.get_logger(__name__)


def install(infra: Infra) -> None:
    runtime = infra.runtime
    keys = SigningKeys(runtime.sessions, runtime.sealer)
    infra.provide("oauth", OAuthState(keys))
    infra.on_change(CHANGE_KIND_SIGNING_KEY, keys.invalidate)
    infra.include_router(router)

    async def ensure_keys() -> None:
        try:
            await to_thread.run_sync(keys.ensure)
        except Exception:  # the first token request tries again (SigningKeys.material)
            log.warning("signing_keys_ensure_failed", exc_info=True)

    infra.background("oauth-signing-keys", ensure_keys)
