"""API-key authentication: the `quantumlock.web.security.Authenticator` this domain installs."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from anyio import to_thread

from quantumlock.auth.cache import MISS, Found
from quantumlock.auth.domain import AuthDomain
from quantumlock.auth.keys import KEY_LENGTH, key_type_of
from quantumlock.auth.principal import Principal
from quantumlock.core.errors import KeyExpired, KeyRevoked, Unauthorized
from quantumlock.observability.metrics import Metrics


class ApiKeyAuthenticator:
    """A typo (bad checksum) is refused without a lookup, a lookup is one indexed read by
    keyed hash, concurrent lookups of one key share it, and an unknown key is then cached as
    unknown (quantumlock.auth.cache)."""

    def __init__(self, auth: AuthDomain, metrics: Metrics) -> None:
        self._auth = auth
        self._cache = auth.key_cache
        self._hasher = auth.hasher
        self._metrics = metrics

    async def authenticate(self, secret: str) -> Principal:
        if len(secret) != KEY_LENGTH:
            raise Unauthorized("Invalid API key.")
        digest = self._hasher.digest(secret)
        cached, due = self._cache.lookup(digest)
        if cached is MISS:
            # Only now check the checksum: a typo is refused without a database round trip,
            # and a key already in the cache is known to be well formed.
            if key_type_of(secret) is None:
                raise Unauthorized("Invalid API key.")
            self._metrics.key_cache_miss.inc()
            found = await self._cache.load(digest, self._loader(digest))
        else:
            self._metrics.key_cache_hit.inc()
            found = cached
            if due:
                self._cache.refresh(digest, self._loader(digest))
        if found is None:
            raise Unauthorized("Invalid API key.")
        stored_hash, principal = found
        if not hmac.compare_digest(stored_hash, digest):
            raise Unauthorized("Invalid API key.")
        if principal.revoked_at is not None:
            raise KeyRevoked()
        if principal.expires_at is not None and principal.expires_at.timestamp() <= time.time():
            raise KeyExpired()
        return principal

    def used(self, principal: Principal, at: float) -> None:
        self._auth.usage.touch(principal.key_id, at)

    def _resolve(self, digest: bytes) -> Found:
        with self._auth.sessions() as session:  # a read: nothing to commit
            return self._auth.service(session).resolve(digest)

    def _loader(self, digest: bytes) -> Callable[[], Awaitable[Found]]:
        return lambda: to_thread.run_sync(self._resolve, digest)
