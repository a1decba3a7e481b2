"""/portal/usage: the plan, licenses this month against the quota, requests and 429s per
day for the last 30 days (server-rendered SVG charts with a data table), active licenses and
the busiest keys. Same scope as /api/v1/customers/stats (account:read: every role)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from quantumlock.auth.scopes import Scope
from quantumlock.auth.usage import DayUsage, KeyUsageService, KeyUse
from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import ServiceAccount
from quantumlock.licensing.domain import licensing_of
from quantumlock.portal.core import PortalContext, portal_context

router = APIRouter(include_in_schema=False)

DAYS = 30
TOP_KEYS = 10

# The charts' drawing area, in SVG user units (the CSS scales the whole picture).
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the bar's tooltip and accessible text: "2026-12-03: 12 requests"


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    desc: str
    bars: list[Bar]
    peak: int
    first_day: str
    last_day: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    base: int = HEIGHT - BOTTOM


def bar_chart(
    chart_id: str, title: str, unit: str, days: list[DayUsage], values: list[int]
) -> Chart:
    """Bars of `values` (one per day), scaled to the largest; a day at zero has no bar."""
    peak = max(values, default=0)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        height = 0.0 if peak == 0 else plot_h * value / peak
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 2),
                y=round(TOP + plot_h - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                label=f"{day.day}: {value} {unit}",
            )
        )
    total = sum(values)
    busiest = max(range(len(values)), key=lambda i: values[i]) if values and peak else None
    desc = f"{total} {unit} from {days[0].day} to {days[-1].day} (UTC days)."
    if busiest is not None:
        desc += f" The most on {days[busiest].day}: {peak}."
    return Chart(chart_id, title, desc, bars, peak, days[0].day, days[-1].day)


@dataclass(frozen=True, slots=True)
class TopKey:
    name: str | None
    kind: str  # "API key", "OAuth client", "Service account", or "" when unknown
    key_id: str
    requests: int
    throttled: int


def _named(session: Session, ctx: PortalContext, use: KeyUse) -> TopKey:
    """A busy key by its name: an API key's from the auth domain, an OAuth client's or
    service account's from identity (only the account's own; the id alone otherwise)."""
    if use.name is not None:
        return TopKey(use.name, "API key", use.key_id, use.requests, use.throttled)
    found = ClientService(session, ctx.runtime.hasher).find(use.key_id)
    if found is not None and found.account_id == ctx.user.account_id:
        kind = "Service account" if isinstance(found, ServiceAccount) else "OAuth client"
        return TopKey(found.name, kind, use.key_id, use.requests, use.throttled)
    return TopKey(None, "", use.key_id, use.requests, use.throttled)


@router.get("/portal/usage")
def usage(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ACCOUNT_READ, "see the account's usage")
    account_id = ctx.user.account_id
    licensing = licensing_of(ctx.request)
    with ctx.unit_of_work() as session:
        licenses = licensing.service(session)
        quota = licenses.quota(account_id, ctx.principal.limits)
        stats = licenses.stats(account_id, ctx.principal.limits)
        keys = KeyUsageService(session)
        days = keys.daily(account_id, DAYS)
        top = [_named(session, ctx, use) for use in keys.top_keys(account_id, DAYS, TOP_KEYS)]
    requests = [d.requests for d in days]
    throttled = [d.throttled for d in days]
    charts = [
        bar_chart("requests", "API requests per day", "requests", days, requests),
        bar_chart("throttled", "Requests refused with 429 per day", "refused", days, throttled),
    ]
    return ctx.render(
        "usage/usage.html",
        nav="/portal/usage",
        quota=quota,
        stats=stats,
        days=days,
        charts=charts,
        top=top,
        total_requests=sum(requests),
        total_throttled=sum(throttled),
        period_days=DAYS,
        quota_percent=0 if not quota.limit else min(100, round(100 * quota.used / quota.limit)),
    )
