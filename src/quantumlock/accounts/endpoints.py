"""/api/v1/customers: the calling vendor's own account."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from quantumlock.accounts.schemas import CustomerOut
from quantumlock.accounts.service import AccountService
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.web.security import get_session, require

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("/me", response_model=CustomerOut, summary="Account information")
def customer_me(
    principal: Principal = require(Scope.ACCOUNT_READ),
    session: Session = Depends(get_session),
) -> CustomerOut:
    return CustomerOut.from_row(AccountService(session).get(principal.account_id))
