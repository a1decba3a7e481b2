"""/api/v1/customers: the calling vendor's own account."""

from __future__ import annotations

from fastapi import Request, Response

from quantumlock.accounts.schemas import CustomerOut
from quantumlock.accounts.service import AccountService
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.licensing.schemas import StatsOut
from quantumlock.licensing.service import LicenseService
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import get_runtime, open_session, require

router = PrefixRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("/me", response_model=CustomerOut, summary="Account information")
def customer_me(request: Request, principal: Principal = require(Scope.ACCOUNT_READ)) -> Response:
    with open_session(request) as session:
        return model_response(
            CustomerOut.from_row(AccountService(session).get(principal.account_id))
        )


@router.get("/stats", response_model=StatsOut, summary="Usage statistics")
def customer_stats(
    request: Request, principal: Principal = require(Scope.ACCOUNT_READ)
) -> Response:
    runtime = get_runtime(request)
    with open_session(request) as session:
        account = AccountService(session).get(principal.account_id)
        stats = LicenseService(session, runtime.sealer, runtime.secret_cache).stats(
            account.id, principal.limits
        )
        return model_response(StatsOut(plan=account.plan, **stats))
