"""Account rules: creation (with the first admin key), listing, limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import Plan
from quantumlock.accounts.repository import AccountRepository
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.scopes import Scope
from quantumlock.auth.service import ApiKeyService, IssuedKey
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.keyring.hasher import KeyHasher

CHANGE_KIND_ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    account: Account
    admin_key: IssuedKey


class AccountService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = AccountRepository(session)

    def create(self, *, name: str, email: str, plan: str, hasher: KeyHasher) -> CreatedAccount:
        name, email = name.strip(), email.strip()
        if not 1 <= len(name) <= 200:
            raise ValidationFailed("name: 1 to 200 characters.", field="name")
        if "@" not in email or len(email) > 320:
            raise ValidationFailed("email: not an email address.", field="email")
        try:
            plan_value = Plan(plan)
        except ValueError:
            allowed = ", ".join(p.value for p in Plan)
            raise ValidationFailed(f"plan: must be one of {allowed}.", field="plan") from None
        account = Account(
            id=new_id("cust"), name=name, email=email, plan=plan_value.value, created_at=utcnow()
        )
        self.repo.add(account)
        self.session.flush()
        issued = ApiKeyService(self.session, hasher).issue(
            account.id,
            name="admin",
            key_type=KeyType.LIVE,
            mode=Mode.LIVE,
            scopes=frozenset({Scope.ADMIN}),
            lifetime=None,
        )
        self.session.flush()
        return CreatedAccount(account, issued)

    def get(self, account_id: str) -> Account:
        account = self.repo.get(account_id)
        if account is None:
            raise NotFound(f"No account {account_id!r}.")
        return account

    def list(self) -> Sequence[Account]:
        return self.repo.list()

    def set_limits(
        self,
        account_id: str,
        *,
        requests_per_minute: int | None = None,
        burst: int | None = None,
        licenses_per_month: int | None = None,
        licenses_unlimited: bool | None = None,
        plan: str | None = None,
    ) -> Account:
        """Set overrides (None leaves a figure as it is). Running servers see it within 1 s."""
        account = self.get(account_id)
        for label, value in (
            ("requests_per_minute", requests_per_minute),
            ("burst", burst),
        ):
            if value is not None and not 1 <= value <= 1_000_000:
                raise ValidationFailed(f"{label}: 1 to 1,000,000.", field=label)
        if licenses_per_month is not None and not 0 <= licenses_per_month <= 1_000_000_000:
            raise ValidationFailed("licenses_per_month: 0 to 10^9.", field="licenses_per_month")
        if plan is not None:
            try:
                account.plan = Plan(plan).value
            except ValueError:
                raise ValidationFailed("plan: unknown plan.", field="plan") from None
        if requests_per_minute is not None:
            account.requests_per_minute = requests_per_minute
        if burst is not None:
            account.burst = burst
        if licenses_per_month is not None:
            account.licenses_per_month = licenses_per_month
            account.licenses_unlimited = False
        if licenses_unlimited:
            account.licenses_unlimited = True
        record_change(self.session, CHANGE_KIND_ACCOUNT, account.id)
        self.session.flush()
        return account
