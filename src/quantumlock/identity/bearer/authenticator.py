"""OAuth 2.0 access tokens accepted wherever API keys are (`Authorization: Bearer <jwt>`).

`CredentialRouter` is what the app authenticates with once identity is installed: a
presented credential that looks like a JWT goes to `TokenAuthenticator`, everything else to
the API-key authenticator it wraps, unchanged (one prefix check in front of it).

A token is checked in two steps. Its signature, type, audience and lifetime against the
provider's public keys (`SigningKeys`: in memory, reloaded when a signing key changes, and
at most once per UNKNOWN_KID_RELOAD seconds for a `kid` it does not know, so made-up kids
cannot make every request a database read). Then its state (quantumlock.identity.bearer.
service), cached per token for STATE_TTL seconds and dropped at once when the change feed
reports a change to anything the token depends on (its jti, grant, client, user, account):
that is what refuses a revoked token or a disabled client on every node within a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from anyio import to_thread
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.auth.principal import Principal
from quantumlock.core.cache import MISS, LoadingCache
from quantumlock.core.errors import AccessTokenExpired, InvalidAccessToken
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.identity.bearer.service import Outcome, TokenRefs, TokenStateService
from quantumlock.identity.signing import SigningKeyService
from quantumlock.identity.tokens import (
    LEEWAY,
    AccessClaims,
    InvalidToken,
    decode_access_token,
    looks_like_jwt,
)
from quantumlock.keyring.sealing import Sealer

log = structlog.get_logger(__name__)

STATE_TTL = 10.0  # seconds: a safety net; the change feed drops entries at once
KEYS_TTL = 300.0
UNKNOWN_KID_RELOAD = 5.0  # seconds between reloads forced by an unknown kid
_KEYS = "keys"


class Authenticator(Protocol):
    """quantumlock.web.security.Authenticator, as far as the router needs it."""

    async def authenticate(self, secret: str) -> Principal: ...

    def used(self, principal: Principal, at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class PublicKeys:
    key_set: KeySet
    kids: frozenset[str]


class SigningKeys:
    """The provider's public keys as this node verifies with them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sealer: Sealer,
        *,
        unknown_kid_reload: float = UNKNOWN_KID_RELOAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._cache: LoadingCache[str, PublicKeys] = LoadingCache(KEYS_TTL)
        self._interval = unknown_kid_reload
        self._clock = clock
        self._forced_at = -unknown_kid_reload
        self.loads = 0  # how many times the keys were read from the database

    async def current(self) -> PublicKeys:
        cached, due = self._cache.lookup(_KEYS)
        if cached is MISS or cached is None:
            found = await self._cache.load(_KEYS, self._fetch)
            assert found is not None  # noqa: S101 - _fetch always returns keys
            return found
        if due:
            self._cache.refresh(_KEYS, self._fetch)
        return cached

    async def for_unknown_kid(self) -> PublicKeys:
        """A token names a kid we do not hold: perhaps a key made on another node a moment
        ago. Reload, unless a reload was forced less than the interval ago."""
        now = self._clock()
        if now - self._forced_at >= self._interval:
            self._forced_at = now
            self._cache.discard(_KEYS)
        return await self.current()

    def forget(self, _ref: str = "") -> None:
        """A signing key changed (rotated, retired): read them again on next use."""
        self._cache.clear()

    async def _fetch(self) -> PublicKeys:
        return await to_thread.run_sync(self._load)

    def _load(self) -> PublicKeys:
        self.loads += 1
        with self._sessions() as session:
            public = SigningKeyService(session, self._sealer).material().public
        kids = frozenset(str(key["kid"]) for key in public.as_dict(private=False)["keys"])
        return PublicKeys(public, kids)

    async def aclose(self) -> None:
        await self._cache.aclose()


@dataclass(frozen=True, slots=True)
class TokenEntry:
    claims: AccessClaims
    refs: TokenRefs
    outcome: Outcome


def _kid_of(token: str) -> str:
    try:
        kid = extract_compact(token.encode("ascii")).protected.get("kid")
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise InvalidAccessToken() from None
    if not isinstance(kid, str) or not kid:
        raise InvalidAccessToken()
    return kid


class TokenAuthenticator:
    def __init__(
        self, sessions: sessionmaker[Session], keys: SigningKeys, *, ttl: float = STATE_TTL
    ) -> None:
        self._sessions = sessions
        self._keys = keys
        # sha256 of the token -> its claims and state: a memory dump shows no usable token.
        self._cache: LoadingCache[bytes, TokenEntry] = LoadingCache(ttl)
        self._usage: dict[str, float] = {}  # service account id -> last used (epoch s)
        self._usage_lock = threading.Lock()

    async def authenticate(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode("latin-1")).digest()
        cached, due = self._cache.lookup(digest)
        if cached is MISS or cached is None:
            # Verified before anything is cached or read: a forged token costs one signature
            # check and never a database read (the brute-force guard counts it).
            claims = await self.verify(token)
            entry = await self._cache.load(digest, self._loader(claims))
            assert entry is not None  # noqa: S101 - the loader always returns an entry
        else:
            entry = cached
            if due:
                self._cache.refresh(digest, self._loader(entry.claims))
        if entry.claims.expires_at <= time.time() - LEEWAY:
            raise AccessTokenExpired()
        outcome = entry.outcome
        if isinstance(outcome, Principal):
            return outcome
        raise outcome()

    async def verify(self, token: str) -> AccessClaims:
        """Signature, type (an ID token is refused), audience and lifetime."""
        kid = _kid_of(token)
        keys = await self._keys.current()
        if kid not in keys.kids:
            keys = await self._keys.for_unknown_kid()
        try:
            return decode_access_token(token, keys.key_set)
        except InvalidToken as exc:
            expired = str(exc) == AccessTokenExpired.default_detail
            raise (AccessTokenExpired() if expired else InvalidAccessToken()) from None

    def used(self, principal: Principal, at: float) -> None:
        """A service account's last use, kept in memory and written in batches (never
        api_keys.last_used: a token is no key). Epoch seconds: cheap on the hot path."""
        if principal.key_id.startswith("service_"):
            self._usage[principal.key_id] = at

    def flush_usage(self) -> None:
        with self._usage_lock:
            pending, self._usage = self._usage, {}
        if not pending:
            return
        stamped = {sa: datetime.fromtimestamp(ts, UTC) for sa, ts in pending.items()}
        try:
            with unit_of_work(self._sessions) as session:
                TokenStateService(session).record_last_used(stamped)
        except Exception:
            with self._usage_lock:  # put the batch back, keeping any newer use
                for sa, ts in pending.items():
                    self._usage.setdefault(sa, ts)
            raise

    async def flush_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await to_thread.run_sync(self.flush_usage)
            except Exception:
                log.warning("service_account_usage_flush_failed", exc_info=True)

    def forget(self, ref: str) -> None:
        """Something a token depends on changed (`ref`: a jti, grant, client, user or
        account id): its cached state goes, on every node (the change feed calls this)."""
        self._cache.discard_where(lambda _digest, entry: entry.refs.names(ref))

    def forget_all(self, _ref: str = "") -> None:
        """The signing keys changed: every token is verified again (a retired key's are
        refused from now on)."""
        self._keys.forget()
        self._cache.clear()

    def _loader(self, claims: AccessClaims) -> Callable[[], Coroutine[Any, Any, TokenEntry]]:
        async def load() -> TokenEntry:
            outcome = await to_thread.run_sync(self._resolve, claims)
            return TokenEntry(claims, TokenRefs.of(claims), outcome)

        return load

    def _resolve(self, claims: AccessClaims) -> Outcome:
        with self._sessions() as session:  # a read: nothing to commit
            return TokenStateService(session).resolve(claims)

    async def aclose(self) -> None:
        await self._cache.aclose()
        await self._keys.aclose()
        await to_thread.run_sync(self.flush_usage)


class CredentialRouter:
    """The app's authenticator once identity is installed: tokens here, keys as before."""

    def __init__(self, keys: Authenticator, tokens: TokenAuthenticator) -> None:
        self._keys = keys
        self._tokens = tokens

    def authenticate(self, secret: str) -> Coroutine[Any, Any, Principal]:
        # Not a coroutine function: it hands back the chosen authenticator's coroutine, so
        # an API key costs one prefix check here and no extra frame (keys are `qcos_…`).
        if secret.startswith("ey") and looks_like_jwt(secret):
            return self._tokens.authenticate(secret)
        return self._keys.authenticate(secret)

    def used(self, principal: Principal, at: float) -> None:
        if principal.token_id is None:
            self._keys.used(principal, at)
        else:
            self._tokens.used(principal, at)
