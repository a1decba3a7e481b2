"""All SQL of the bearer part: the rows an access token's state checks read (primary keys
only, one indexed read each)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.identity.models import (
    OAuthClient,
    OAuthGrant,
    OAuthRevokedToken,
    ServiceAccount,
    User,
)


class TokenStateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def is_revoked(self, jti: str) -> bool:
        query = select(OAuthRevokedToken.jti).where(OAuthRevokedToken.jti == jti)
        return self.session.scalar(query) is not None

    def grant(self, grant_id: str) -> OAuthGrant | None:
        return self.session.get(OAuthGrant, grant_id)

    def client(self, client_id: str) -> OAuthClient | ServiceAccount | None:
        """The OAuth client (`client_…`) or service account (`service_…`) of a client_id."""
        if client_id.startswith("service_"):
            return self.session.get(ServiceAccount, client_id)
        if client_id.startswith("client_"):
            return self.session.get(OAuthClient, client_id)
        return None

    def user(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def account(self, account_id: str) -> Account | None:
        return self.session.get(Account, account_id)

    def set_last_used(self, last_used: dict[str, datetime]) -> None:
        for service_id, when in last_used.items():
            self.session.execute(
                update(ServiceAccount)
                .where(ServiceAccount.id == service_id)
                .values(last_used_at=when)
                .execution_options(synchronize_session=False)
            )
