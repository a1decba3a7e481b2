"""/api/v1/customers: the calling vendor's own account."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from quantumlock.accounts.schemas import CustomerOut
from quantumlock.accounts.service import AccountService
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.licensing.schemas import StatsOut
from quantumlock.licensing.service import LicenseService
from quantumlock.web.security import get_runtime, get_session, require

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("/me", response_model=CustomerOut, summary="Account information")
def customer_me(
    principal: Principal = require(Scope.ACCOUNT_READ),
    session: Session = Depends(get_session),
) -> CustomerOut:
    return CustomerOut.from_row(AccountService(session).get(principal.account_id))


@router.get("/stats", response_model=StatsOut, summary="Usage statistics")
def customer_stats(
    request: Request,
    principal: Principal = require(Scope.ACCOUNT_READ),
    session: Session = Depends(get_session),
) -> StatsOut:
    account = AccountService(session).get(principal.account_id)
    runtime = get_runtime(request)
    stats = LicenseService(session, runtime.sealer, runtime.secret_cache).stats(
        account.id, principal.limits
    )
    return StatsOut(plan=account.plan, **stats)
