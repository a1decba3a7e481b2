"""/api/v1/customers: the calling vendor's own account."""

from __future__ import annotations

from fastapi import Request, Response

from quantumlock.accounts.schemas import CustomerOut
from quantumlock.accounts.service import AccountService
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.licensing.domain import licensing_of
from quantumlock.licensing.schemas import StatsOut
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("/me", response_model=CustomerOut, summary="Account information")
def customer_me(request: Request, principal: Principal = require(Scope.ACCOUNT_READ)) -> Response:
    """The calling key's account: id, name, email, plan and creation time."""
    with unit_of_work(request) as session:
        return model_response(
            CustomerOut.from_row(AccountService(session).get(principal.account_id))
        )


@router.get("/stats", response_model=StatsOut, summary="Usage statistics")
def customer_stats(
    request: Request, principal: Principal = require(Scope.ACCOUNT_READ)
) -> Response:
    """The account's plan and license usage: licenses generated this calendar month (UTC)
    and how many remain (null: unlimited), all-time and active totals."""
    with unit_of_work(request) as session:
        account = AccountService(session).get(principal.account_id)
        stats = licensing_of(request).service(session).stats(account.id, principal.limits)
        return model_response(StatsOut(plan=account.plan, **stats))
