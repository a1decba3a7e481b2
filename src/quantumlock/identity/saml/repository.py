"""All SQL of the SAML configuration: an account's one connection."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.identity.models import SamlConnection


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
