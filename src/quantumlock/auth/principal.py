"""Who is calling: the authenticated API key, as the rest of the service sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quantumlock.accounts.plans import EffectiveLimits, RateLimit, key_share
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.scopes import Scope
from quantumlock.core.actor import Actor


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    account_id: str
    key_type: KeyType
    mode: Mode
    granted_scopes: frozenset[Scope]  # as stored on the key
    scopes: frozenset[Scope]  # granted plus implied: what checks use
    expires_at: datetime | None
    revoked_at: datetime | None
    limits: EffectiveLimits
    # Set for an OAuth 2.0 access token (quantumlock.identity): `key_id` is then the client
    # (client_… or service_…), so rate limits apply per client or service account.
    user_id: str | None = None
    token_id: str | None = None  # the token's jti
    grant_id: str | None = None  # its token family, for a user's authorization
    # Whether it may hand `admin` to a new credential (key, service account, client). Such a
    # credential acts for the account as an owner does, so a user's token may only if the
    # user is an owner: an admin user could otherwise mint one and demote the owners.
    grants_admin: bool = True

    @property
    def is_token(self) -> bool:
        return self.token_id is not None

    @property
    def is_test(self) -> bool:
        return self.mode is Mode.TEST

    @property
    def actor(self) -> Actor:
        """This key as the services see who acts."""
        return Actor(self.account_id, self.mode.value, self.key_id)

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    def v2_limit(self) -> RateLimit:
        return self.limits.test if self.is_test else self.limits.v2_live

    def v1_limit(self) -> RateLimit:
        return self.limits.test if self.is_test else self.limits.v1_live

    def v1_key_limit(self) -> RateLimit:
        """This key's own share of the account's /api/v1 limit."""
        return key_share(self.v1_limit())
