"""/api/v2/audit: the account's audit trail."""

from __future__ import annotations

from datetime import datetime

from fastapi import Query, Request, Response

from quantumlock.audit.schemas import AuditEventOut, AuditPageOut
from quantumlock.audit.service import AuditService, EventType
from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import Envelope
from quantumlock.auth.scopes import Scope
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v2/audit", tags=["audit"])


@router.get(
    "",
    response_model=Envelope[AuditPageOut],
    summary="The account's audit trail: licenses, API keys, users, sign-ins and OAuth",
)
def audit(
    request: Request,
    type: list[EventType] | None = Query(
        None, description="Only these event types (repeat the parameter for several)"
    ),
    since: datetime | None = Query(None, description="Events at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Events before (ISO 8601)"),
    cursor: str | None = Query(None, max_length=200, description="`next_cursor` of a page"),
    limit: int = Query(50, ge=1, le=200),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Newest first, one page at a time: follow `next_cursor` while `has_more`. Needs the
    `admin` scope: the trail names the account's keys and who used them. A test key sees
    the test mode's events only."""
    with unit_of_work(request) as session:
        page = AuditService(session).page(
            principal.actor, types=type, since=since, until=until, cursor=cursor, limit=limit
        )
        out = AuditPageOut(
            events=[AuditEventOut.from_row(row) for row in page.events],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )
    return model_response(Envelope(data=out))
