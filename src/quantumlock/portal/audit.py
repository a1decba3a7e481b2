"""/portal/account/audit: the account's audit trail (the rules of GET /api/v2/audit: scope
`admin`, live mode), with filters, cursor pages, and /portal/account/audit.csv, the same
events as a streamed CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse

from quantumlock.audit.schemas import AuditEventOut
from quantumlock.audit.service import EVENT_TYPES, AuditService
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import AppError
from quantumlock.portal.core import PortalContext, portal_context, security_headers

router = APIRouter(include_in_schema=False)

PAGE = "/portal/account/audit"
PAGE_SIZE = 50
CSV_BATCH = 200  # events read per query while the CSV streams
MAX_ACTOR = 64
MAX_CURSOR = 200
CSV_COLUMNS = (
    "id",
    "at",
    "type",
    "actor",
    "object_type",
    "object_id",
    "license_key",
    "address",
    "mode",
    "detail",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    event_type: str = ""
    since: str = ""  # YYYY-MM-DD, as the date inputs send it
    until: str = ""  # YYYY-MM-DD, inclusive
    actor: str = ""

    def query(self, **extra: str) -> str:
        pairs = {
            "type": self.event_type,
            "since": self.since,
            "until": self.until,
            "actor": self.actor,
            **extra,
        }
        return urlencode({k: v for k, v in pairs.items() if v})


class BadFilter(Exception):
    pass


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{label}: a date such as 2026-01-31.") from None


def _read_filters(ctx: PortalContext) -> tuple[Filters, dict[str, Any]]:
    """The query's filters as typed (kept for the form), and the service's arguments; a
    bad one raises BadFilter with plain words."""
    params = ctx.request.query_params
    filters = Filters(
        event_type=params.get("type", "")[:100],
        since=params.get("since", "")[:20].strip(),
        until=params.get("until", "")[:20].strip(),
        actor=params.get("actor", "")[: MAX_ACTOR + 1].strip(),
    )
    if filters.event_type and filters.event_type not in EVENT_TYPES:
        raise BadFilter("Event type: choose one from the list.")
    if len(filters.actor) > MAX_ACTOR:
        raise BadFilter(f"Actor: at most {MAX_ACTOR} characters (an id such as usr_… or key_…).")
    since = _day(filters.since, "From")
    until = _day(filters.until, "To")
    if since and until and until < since:
        raise BadFilter("To: the end date is before the start date.")
    return filters, {
        "types": [filters.event_type] if filters.event_type else None,
        "since": datetime.combine(since, time(), UTC) if since else None,
        # "To" includes its whole day: events before the next midnight (UTC).
        "until": datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
        "actor": filters.actor or None,
    }


def _render(
    ctx: PortalContext,
    filters: Filters,
    *,
    events: list[AuditEventOut],
    next_url: str | None,
    first_url: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return ctx.render(
        "audit/list.html",
        status_code=status_code,
        nav=PAGE,
        filters=filters,
        event_types=EVENT_TYPES,
        events=events,
        next_url=next_url,
        first_url=first_url,
        csv_url=PAGE + ".csv" + ("?" + filters.query() if filters.query() else ""),
        error=error,
        detail_text=_detail_text,
    )


@router.get(PAGE)
def audit_page(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "see the account's audit log")
    try:
        filters, arguments = _read_filters(ctx)
    except BadFilter as bad:
        return _bad(ctx, str(bad))
    cursor = ctx.request.query_params.get("cursor", "")[: MAX_CURSOR + 1]
    if len(cursor) > MAX_CURSOR:
        return _bad(ctx, "This page link is damaged. Start again from the first page.", filters)
    try:
        with ctx.unit_of_work() as session:
            page = AuditService(session).page(
                ctx.actor, cursor=cursor or None, limit=PAGE_SIZE, **arguments
            )
            events = [AuditEventOut.from_row(row) for row in page.events]
    except AppError as error:  # a cursor that is not one of ours
        return _bad(ctx, error.detail, filters)
    next_url = f"{PAGE}?{filters.query(cursor=page.next_cursor)}" if page.next_cursor else None
    first_url = (PAGE + ("?" + filters.query() if filters.query() else "")) if cursor else None
    return _render(ctx, filters, events=events, next_url=next_url, first_url=first_url)


def _bad(ctx: PortalContext, message: str, filters: Filters | None = None) -> Response:
    if filters is None:
        params = ctx.request.query_params
        filters = Filters(
            event_type=params.get("type", "")[:100],
            since=params.get("since", "")[:20],
            until=params.get("until", "")[:20],
            actor=params.get("actor", "")[:MAX_ACTOR],
        )
    return _render(
        ctx, filters, events=[], next_url=None, first_url=None, error=message, status_code=400
    )


def _detail_text(detail: dict[str, Any]) -> str:
    """An event's detail, compact (never a secret: the services record none)."""
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode() if detail else ""


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading
    apostrophe (OWASP's CSV-injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_row(event: AuditEventOut) -> list[str]:
    cells = [
        event.id,
        event.at.isoformat().replace("+00:00", "Z"),
        event.type,
        event.actor_key_id,
        event.object_type,
        event.object_id,
        event.license_key or "",
        event.address or "",
        event.mode,
        _detail_text(event.detail),
    ]
    return [safe_cell(cell) for cell in cells]


def _csv_lines(ctx: PortalContext, arguments: dict[str, Any]) -> Iterator[str]:
    """The CSV, a batch of events at a time: each batch reads in a short transaction of its
    own and follows the previous one's cursor, so a long trail never sits in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    while True:
        with ctx.unit_of_work() as session:
            page = AuditService(session).page(
                ctx.actor, cursor=cursor, limit=CSV_BATCH, **arguments
            )
            for row in page.events:
                writer.writerow(_csv_row(AuditEventOut.from_row(row)))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@router.get(PAGE + ".csv")
def audit_csv(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "export the account's audit log")
    try:
        filters, arguments = _read_filters(ctx)
    except BadFilter as bad:
        return _bad(ctx, str(bad))
    del filters
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = StreamingResponse(_csv_lines(ctx, arguments), media_type="text/csv; charset=utf-8")
    security_headers(response)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
