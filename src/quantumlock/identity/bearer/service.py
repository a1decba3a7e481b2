"""What an access token may do now: its signed claims checked against the current state.

A token is a signed statement made when it was issued; what happened since is read here:
the token or its grant revoked, its client, service account or user disabled or deleted, a
role or a client's scopes narrowed, the account's limits changed. The result is cached per
token by the authenticator (quantumlock.identity.bearer.authenticator) and dropped when any
of these change (the change kinds below, via the change feed, on every node).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from quantumlock.accounts.plans import limits_of_account
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, expand
from quantumlock.core.errors import AccessTokenRevoked, InvalidAccessToken
from quantumlock.identity.bearer.repository import TokenStateRepository
from quantumlock.identity.models import ServiceAccount
from quantumlock.identity.roles import Role, role_scopes
from quantumlock.identity.tokens import AccessClaims

ACTIVE = "active"

Refusal = type[InvalidAccessToken]
Outcome = Principal | Refusal


@dataclass(frozen=True, slots=True)
class TokenRefs:
    """Everything a token's state depends on: a change to any of them drops it."""

    jti: str
    client_id: str
    account_id: str
    user_id: str | None
    grant_id: str | None

    @classmethod
    def of(cls, claims: AccessClaims) -> TokenRefs:
        return cls(claims.jti, claims.client_id, claims.account_id, claims.user_id, claims.grant_id)

    def names(self, ref: str) -> bool:
        return ref in (self.jti, self.client_id, self.account_id, self.user_id, self.grant_id)


def api_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """The API scopes among `values` (a token's or a client's also hold OIDC scopes such as
    `openid`, which grant nothing on the API)."""
    out = set()
    for value in values:
        try:
            out.add(Scope(value))
        except ValueError:
            continue
    return frozenset(out)


class TokenStateService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = TokenStateRepository(session)

    def record_last_used(self, last_used: dict[str, datetime]) -> None:
        """Service accounts' last use (`service_…` id -> when), written in batches."""
        self.repo.set_last_used(last_used)
        self.session.flush()

    def resolve(self, claims: AccessClaims) -> Outcome:
        """The token's principal, or the refusal (an exception class) to raise for it."""
        if self.repo.is_revoked(claims.jti):
            return AccessTokenRevoked
        if claims.grant_id is not None:
            grant = self.repo.grant(claims.grant_id)
            if grant is None or grant.revoked_at is not None:
                return AccessTokenRevoked
            if (grant.client_id, grant.account_id) != (claims.client_id, claims.account_id):
                return InvalidAccessToken
        client = self.repo.client(claims.client_id)
        if client is None or client.status != ACTIVE:
            return AccessTokenRevoked
        if client.account_id != claims.account_id or client.mode != claims.mode:
            return InvalidAccessToken
        allowed = expand(api_scopes(client.scopes))
        grants_admin = True
        if claims.user_id is not None:
            if isinstance(client, ServiceAccount):
                return InvalidAccessToken  # a service account acts for nobody but itself
            user = self.repo.user(claims.user_id)
            if user is None or user.status != ACTIVE:
                return AccessTokenRevoked
            if user.account_id != claims.account_id:
                return InvalidAccessToken
            try:
                allowed &= role_scopes(Role(user.role))
            except ValueError:
                return InvalidAccessToken
            grants_admin = user.role == Role.OWNER.value
        elif claims.subject != claims.client_id:
            return InvalidAccessToken  # client_credentials: the client is the subject
        account = self.repo.account(claims.account_id)
        if account is None:
            return InvalidAccessToken
        held = api_scopes(claims.scope)
        scopes = expand(held)
        # Narrowed since issue (a demotion, fewer client scopes): exactly what is still
        # allowed, implied scopes included, so /me shows what the token can do now.
        granted = held if scopes <= allowed else scopes & allowed
        mode = Mode(claims.mode)
        return Principal(
            key_id=claims.client_id,
            account_id=claims.account_id,
            key_type=KeyType.TEST if mode is Mode.TEST else KeyType.LIVE,
            mode=mode,
            granted_scopes=granted,
            scopes=scopes & allowed,
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            revoked_at=None,
            limits=limits_of_account(account),
            user_id=claims.user_id,
            token_id=claims.jti,
            grant_id=claims.grant_id,
            grants_admin=grants_admin,
        )
