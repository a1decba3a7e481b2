"""What the provider needs of the users and clients parts, behind the contract's names
(ClientService.find/check_secret/is_active/allowed_scopes, UserService.get/scopes_of/
is_active): one place to read a client, a service account or a user."""

from __future__ import annotations

import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from quantumlock.auth.scopes import Scope, expand, parse_scopes
from quantumlock.core.clock import utcnow
from quantumlock.identity.models import ClientSecret, OAuthClient, ServiceAccount, User
from quantumlock.identity.roles import role_scopes
from quantumlock.identity.secrets import is_client_secret
from quantumlock.keyring.hasher import KeyHasher

Party = OAuthClient | ServiceAccount


def _utc_naive_le(a: object, b: object) -> bool:
    from quantumlock.core.clock import as_utc

    return as_utc(a) <= as_utc(b)  # type: ignore[arg-type]


class Directory:
    def __init__(self, session: Session, hasher: KeyHasher) -> None:
        self.session = session
        self.hasher = hasher

    # -- clients and service accounts
    def find(self, client_id: str) -> Party | None:
        if not isinstance(client_id, str) or len(client_id) > 40:
            return None
        if client_id.startswith("client_"):
            return self.session.get(OAuthClient, client_id)
        if client_id.startswith("service_"):
            return self.session.get(ServiceAccount, client_id)
        return None

    def check_secret(self, client_id: str, secret: str) -> bool:
        if not is_client_secret(secret):
            return False
        digest = self.hasher.digest(secret)
        row = self.session.scalars(
            select(ClientSecret).where(ClientSecret.secret_hash == digest)
        ).first()
        if row is None or not hmac.compare_digest(row.owner_id, client_id):
            return False
        if row.revoked_at is not None:
            return False
        return row.expires_at is None or not _utc_naive_le(row.expires_at, utcnow())

    def is_active(self, party: Party) -> bool:
        return party.status == "active"

    def allowed_scopes(self, party: Party) -> frozenset[Scope]:
        try:
            return expand(parse_scopes(s for s in party.scopes if s in Scope._value2member_map_))
        except ValueError:
            return frozenset()

    # -- users
    def user(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def scopes_of(self, user: User) -> frozenset[Scope]:
        return role_scopes(user.role)

    def user_active(self, user: User) -> bool:
        return user.status == "active"
