from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, account_id: str) -> Account | None:
        return self.session.get(Account, account_id)

    def add(self, account: Account) -> None:
        self.session.add(account)

    def list(self) -> Sequence[Account]:
        return self.session.scalars(select(Account).order_by(Account.created_at, Account.id)).all()
