from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import Plan
from quantumlock.core.clock import as_utc


class CustomerOut(BaseModel):
    """`GET /api/v1/customers/me`, exactly the reference's shape."""

    id: str
    name: str
    email: str
    plan: Plan
    created_at: datetime

    @classmethod
    def from_row(cls, account: Account) -> CustomerOut:
        return cls(
            id=account.id,
            name=account.name,
            email=account.email,
            plan=Plan(account.plan),
            created_at=as_utc(account.created_at),
        )
