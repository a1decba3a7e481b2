"""Installs identity's `bearer` part (called by quantumlock.identity.install, last): OAuth
access tokens accepted as `Authorization: Bearer` on every API route, like API keys."""

from __future__ import annotations

from quantumlock.accounts.service import CHANGE_KIND_ACCOUNT
from quantumlock.identity.bearer.authenticator import (
    CredentialRouter,
    SigningKeys,
    TokenAuthenticator,
)
from quantumlock.identity.clients.service import (
    CHANGE_KIND_OAUTH_CLIENT,
    CHANGE_KIND_SERVICE_ACCOUNT,
)
from quantumlock.identity.oauth.service import CHANGE_KIND_OAUTH_GRANT, CHANGE_KIND_OAUTH_TOKEN
from quantumlock.identity.signing import CHANGE_KIND_SIGNING_KEY
from quantumlock.identity.users.service import CHANGE_KIND_USER
from quantumlock.web.install import Infra
from quantumlock.web.security import Authenticator

# What a token's cached state depends on; the ref of each names the object that changed.
STATE_CHANGE_KINDS = (
    CHANGE_KIND_OAUTH_TOKEN,
    CHANGE_KIND_OAUTH_GRANT,
    CHANGE_KIND_OAUTH_CLIENT,
    CHANGE_KIND_SERVICE_ACCOUNT,
    CHANGE_KIND_USER,
    # The account's limits are part of every principal of its tokens, as of its keys.
    CHANGE_KIND_ACCOUNT,
)


def install(infra: Infra) -> None:
    runtime = infra.runtime
    tokens = TokenAuthenticator(runtime.sessions, SigningKeys(runtime.sessions, runtime.sealer))

    def route(installed: Authenticator) -> Authenticator:
        return CredentialRouter(installed, tokens)

    infra.wrap_authenticator(route)
    infra.provide("bearer", tokens)
    infra.on_change(CHANGE_KIND_SIGNING_KEY, tokens.forget_all)
    for kind in STATE_CHANGE_KINDS:
        infra.on_change(kind, tokens.forget)
    interval = infra.settings.last_used_flush_interval

    async def flush_loop() -> None:
        await tokens.flush_loop(interval)

    infra.background("service-account-usage-flush", flush_loop)
    # Loads under way finish, then the last service-account uses are written.
    infra.on_shutdown("token_cache_close", tokens.aclose, timeout=5.0)
