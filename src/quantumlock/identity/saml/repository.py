"""All SQL of the SAML configuration: an account's one connection."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.identity.models import SamlConnection, User, UserSession
from quantumlock.identity.roles import Role


class SamlConnectionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_account(self, account_id: str) -> SamlConnection | None:
        return self.session.scalars(
            select(SamlConnection).where(SamlConnection.account_id == account_id)
        ).first()

    def add_once(self, row: SamlConnection) -> bool:
        """Insert the account's connection: False (the transaction still usable) when a
        concurrent request inserted the account's one connection first."""
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    def delete(self, row: SamlConnection) -> None:
        self.session.delete(row)

    def end_password_sessions(self, account_id: str, now: datetime) -> int:
        """End the live sessions not made by SSO of the account's non-owners."""
        non_owners = select(User.id).where(
            User.account_id == account_id, User.role != Role.OWNER.value
        )
        result = self.session.execute(
            update(UserSession)
            .where(
                UserSession.account_id == account_id,
                UserSession.method != "sso",
                UserSession.revoked_at.is_(None),
                UserSession.user_id.in_(non_owners.scalar_subquery()),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
