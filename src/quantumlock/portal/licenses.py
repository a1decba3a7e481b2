"""Licenses in the portal: search and filters, generate, the detail page (facts, validation
history, audit trail), suspend / reinstate / renew / revoke, the offline license file, and
the signing keys with their rotation.

Each page and action needs the scope the matching API route requires (licenses:read to
look, licenses:write to change, licenses:validate for the signing keys' list); rotating a
signing key, operator-only in the CLI, needs `admin` (owners and admins). The portal acts in
live mode: test-mode licenses are not shown here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.errors import AppError, QuotaExceeded
from quantumlock.licensing.domain import LicensingDomain
from quantumlock.licensing.endpoints import log_change
from quantumlock.licensing.models import License, LicenseValidationDaily
from quantumlock.licensing.repository import LicenseQuery
from quantumlock.licensing.schemas import GenerateIn, RenewIn
from quantumlock.licensing.service import Code, LicenseService
from quantumlock.licensing.signing import b64url
from quantumlock.portal.core import (
    PortalContext,
    api_limited,
    as_page_errors,
    invalid_input,
    notice,
    portal_context,
    portal_form,
    security_headers,
    see_other,
    text,
)

log = structlog.get_logger("quantumlock.portal.licenses")

router = APIRouter(include_in_schema=False)

NAV = "/portal/licenses"
PAGE_SIZE = 25
MAX_PAGE = 100_000
HISTORY_DAYS = 30
EVENTS_SHOWN = 50
STATUS_CHOICES = (
    ("", "Any status"),
    ("active", "Active"),
    ("suspended", "Suspended"),
    ("revoked", "Revoked"),
    ("expired", "Expired"),
)
EXPIRY_CHOICES = (
    ("", "Any time"),
    ("7", "Within 7 days"),
    ("30", "Within 30 days"),
    ("90", "Within 90 days"),
)
RENEW_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("730", "2 years"))
DONE = {
    "generated": "License generated.",
    "suspended": "License suspended: it validates as SUSPENDED until reinstated.",
    "reinstated": "License reinstated: it validates again.",
    "renewed": "License renewed, and its offline file signed again.",
    "revoked": "License revoked: it validates as REVOKED from now on.",
    "rotated": "A new signing key is active. Files signed before still verify with the old key.",
}
# Result codes in the history's columns: valid first, then the refusals.
CODE_ORDER = {code.value: i for i, code in enumerate(Code)}


def _licensing(ctx: PortalContext) -> LicensingDomain:
    domain: LicensingDomain = ctx.request.app.state.licensing
    return domain


def _service(ctx: PortalContext, session: Any) -> LicenseService:
    return _licensing(ctx).service(session)


def shown_status(lic: License) -> str:
    """The status a person reads: an active license past its expiry is "expired"."""
    if lic.status == "active" and as_utc(lic.valid_until) <= utcnow():
        return "expired"
    return lic.status


# -- list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    q: str = ""
    status: str = ""
    feature: str = ""
    expires: str = ""

    def params(self, page: int | None = None) -> str:
        """The query string of these filters (and a page), without the empty ones."""
        values = {"q": self.q, "status": self.status, "feature": self.feature}
        values["expires"] = self.expires
        if page is not None and page > 1:
            values["page"] = str(page)
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def any(self) -> bool:
        return bool(self.q or self.status or self.feature or self.expires)


def _filters(request: Request) -> Filters:
    params = request.query_params
    return Filters(
        q=params.get("q", "").strip()[:300],
        status=params.get("status", "").strip()[:50],
        feature=params.get("feature", "").strip()[:100],
        expires=params.get("expires", "").strip()[:10],
    )


def _query(filters: Filters, page_text: str) -> tuple[LicenseQuery, int]:
    """The service's query and the page number; ValueError in plain words."""
    if filters.status not in dict(STATUS_CHOICES):
        raise ValueError("Status must be one of active, suspended, revoked or expired.")
    if filters.expires not in dict(EXPIRY_CHOICES):
        raise ValueError("Expiry must be within 7, 30 or 90 days.")
    if len(filters.q) > 256:
        raise ValueError("Search: at most 256 characters.")
    if len(filters.feature) > 64:
        raise ValueError("Feature: at most 64 characters.")
    page = 1
    if page_text:
        if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
            raise ValueError(f"Page must be a number from 1 to {MAX_PAGE}.")
        page = int(page_text)
    expires_before = None
    if filters.expires:
        expires_before = utcnow() + timedelta(days=int(filters.expires))
    query = LicenseQuery(
        search=filters.q or None,
        status=filters.status or None,
        feature=filters.feature or None,
        expires_before=expires_before,
    )
    return query, page


@router.get("/portal/licenses")
def licenses(request: Request, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_READ, "see licenses")
    filters = _filters(request)
    page_text = request.query_params.get("page", "").strip()[:12]
    context: dict[str, Any] = {
        "filters": filters,
        "status_choices": STATUS_CHOICES,
        "expiry_choices": EXPIRY_CHOICES,
        "shown_status": shown_status,
        "notice": notice(request, DONE),
    }
    try:
        query, page = _query(filters, page_text)
    except ValueError as problem:
        return ctx.render(
            "licenses/list.html",
            status_code=400,
            nav=NAV,
            error=str(problem),
            rows=[],
            total=0,
            page=1,
            pages=1,
            **context,
        )
    with ctx.unit_of_work() as session:
        total, rows = _service(ctx, session).search(
            ctx.actor, query, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        rows = list(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    return ctx.render(
        "licenses/list.html", nav=NAV, rows=rows, total=total, page=page, pages=pages, **context
    )


# -- generate ----------------------------------------------------------------------------


def _quota_text(ctx: PortalContext) -> str:
    with ctx.unit_of_work() as session:
        quota = _service(ctx, session).quota(ctx.principal.account_id, ctx.principal.limits)
    if quota.limit is None:
        return f"{quota.used} licenses generated this month; your plan has no monthly limit."
    return (
        f"{quota.used} of {quota.limit} licenses generated this month "
        f"({quota.remaining} left; the count starts again on {quota.reset_at:%Y-%m-%d})."
    )


def _new_page(
    ctx: PortalContext, form: dict[str, str], *, error: str | None = None, status_code: int = 200
) -> Response:
    return ctx.render(
        "licenses/new.html",
        status_code=status_code,
        nav=NAV,
        form=form,
        quota=_quota_text(ctx),
        error=error,
    )


NEW_DEFAULTS = {"end_customer_id": "", "features": "", "valid_days": "365", "metadata": ""}


@router.get("/portal/licenses/new")
def new_license(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_WRITE, "generate licenses")
    return _new_page(ctx, dict(NEW_DEFAULTS))


def _generate_input(form: dict[str, str]) -> GenerateIn:
    """The form as the API's body; ValueError in plain words."""
    features = [f.strip() for f in form["features"].split(",") if f.strip()]
    metadata: Any = {}
    if form["metadata"]:
        try:
            metadata = json.loads(form["metadata"])
        except ValueError:
            raise ValueError(
                'Metadata must be a JSON object, for example {"seats": 5}, or left empty.'
            ) from None
        if not isinstance(metadata, dict):
            raise ValueError('Metadata must be a JSON object, for example {"seats": 5}.')
    days = form["valid_days"]
    if not days.isdigit():
        raise ValueError("Valid for: a whole number of days, from 1 to 3650.")
    try:
        return GenerateIn(
            end_customer_id=form["end_customer_id"],
            features=features,
            valid_days=int(days),
            metadata=metadata,
        )
    except ValidationError as error:
        raise ValueError(invalid_input(error)) from None


@router.post("/portal/licenses/new", dependencies=[Depends(api_limited)])
def generate_license(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    ctx.require(Scope.LICENSES_WRITE, "generate licenses")
    fields = {
        "end_customer_id": text(form, "end_customer_id", 300),
        "features": text(form, "features", 8000),
        "valid_days": text(form, "valid_days", 12),
        "metadata": text(form, "metadata", 70_000),
    }
    try:
        body = _generate_input(fields)
    except ValueError as problem:
        return _new_page(ctx, fields, error=str(problem), status_code=400)
    plan = ctx.principal.limits.plan
    try:
        with ctx.unit_of_work() as session:
            lic, _quota = _service(ctx, session).generate(
                ctx.actor,
                ctx.principal.limits,
                end_customer_id=body.end_customer_id,
                features=body.features,
                valid_days=body.valid_days,
                metadata=body.metadata,
            )
            license_key = lic.license_key
    except QuotaExceeded as refused:
        ctx.runtime.metrics.quota_refusals.labels(plan).inc()
        message = (
            "Your plan's monthly license quota is used up "
            f"({refused.detail.rstrip('.')}). No new license can be generated until "
            f"{refused.reset_at:%Y-%m-%d} (UTC); renewing existing licenses still works."
        )
        return _new_page(ctx, fields, error=message, status_code=429)
    except AppError as error:
        return _new_page(ctx, fields, error=error.detail, status_code=error.status_code)
    ctx.runtime.metrics.licenses_issued.labels(plan, ctx.principal.mode.value).inc()
    log_change(ctx.request, ctx.principal, "generate", lic)
    return see_other(f"/portal/licenses/{license_key}?done=generated")


# -- signing keys (before /{license_key}, which would take "signing-keys") ------------------


@router.get("/portal/licenses/signing-keys")
def signing_keys(request: Request, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_VALIDATE, "see the license signing keys")
    with ctx.unit_of_work() as session:
        keys = [
            {
                "kid": key.kid,
                "status": key.status,
                "alg": key.alg,
                "created_at": key.created_at,
                "ed25519": b64url(key.ed25519_public),
            }
            for key in _service(ctx, session).signing_keys(ctx.principal.account_id, "live")
        ]
    return ctx.render(
        "licenses/signing_keys.html", nav=NAV, keys=keys, notice=notice(request, DONE)
    )


@router.get("/portal/licenses/signing-keys/rotate")
def rotate_confirm(ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.ADMIN, "rotate signing keys")
    return ctx.render("licenses/rotate.html", nav=NAV)


@router.post("/portal/licenses/signing-keys/rotate", dependencies=[Depends(api_limited)])
def rotate(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    ctx.require(Scope.ADMIN, "rotate signing keys")
    with as_page_errors(), ctx.unit_of_work() as session:
        key = _service(ctx, session).rotate_signing_key(ctx.principal.account_id, "live")
        kid = key.kid
    log.info(
        "license.signing_key_rotate",
        account_id=ctx.principal.account_id,
        user_id=ctx.user.id,
        kid=kid,
    )
    return see_other("/portal/licenses/signing-keys?done=rotated")


# -- one license -------------------------------------------------------------------------


def _history(rows: list[LicenseValidationDaily]) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """The history as a table: result codes (columns) and per day (newest first) the count
    of each."""
    codes = sorted({r.code for r in rows}, key=lambda c: (CODE_ORDER.get(c, 99), c))
    by_day: dict[str, dict[str, int]] = {}
    for r in rows:
        by_day.setdefault(r.day, {})[r.code] = r.count
    days = sorted(by_day, reverse=True)
    return codes, [(day, [by_day[day].get(code, 0) for code in codes]) for day in days]


def _detail_page(
    ctx: PortalContext,
    license_key: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    renew_days: str = "365",
) -> Response:
    with as_page_errors(), ctx.unit_of_work() as session:
        svc = _service(ctx, session)
        lic = svc.get(ctx.actor, license_key)
        history = list(svc.validation_history(ctx.actor, license_key, HISTORY_DAYS))
        total_events, events = svc.event_page(ctx.actor, license_key, skip=0, limit=EVENTS_SHOWN)
        events = list(events)
        status = shown_status(lic)
        codes, days = _history(history)
        return ctx.render(
            "licenses/detail.html",
            status_code=status_code,
            nav=NAV,
            lic=lic,
            status=status,
            codes=codes,
            days=days,
            history_days=HISTORY_DAYS,
            events=events,
            total_events=total_events,
            renew_choices=RENEW_CHOICES,
            renew_days=renew_days,
            error=error,
            notice=notice(ctx.request, DONE),
        )


@router.get("/portal/licenses/{license_key}")
def license_detail(license_key: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_READ, "see licenses")
    return _detail_page(ctx, license_key)


@router.get("/portal/licenses/{license_key}/file")
def license_file(license_key: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_READ, "download license files")
    with as_page_errors(), ctx.unit_of_work() as session:
        lic = _service(ctx, session).get(ctx.actor, license_key)
        name, content = lic.license_key, lic.license_file
    response = Response(content + "\n", media_type="application/octet-stream")
    security_headers(response)  # no-store among them
    # The key is QLOCK- and hex digits only: safe in the header as it is.
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.lic"'
    return response


@router.get("/portal/licenses/{license_key}/revoke")
def revoke_confirm(license_key: str, ctx: PortalContext = Depends(portal_context)) -> Response:
    ctx.require(Scope.LICENSES_WRITE, "revoke licenses")
    with as_page_errors(), ctx.unit_of_work() as session:
        lic = _service(ctx, session).get(ctx.actor, license_key)
        return ctx.render("licenses/revoke.html", nav=NAV, lic=lic, status=shown_status(lic))


def _change(ctx: PortalContext, license_key: str, action: str, *args: Any) -> License:
    with as_page_errors(f"Could not {action} the license"), ctx.unit_of_work() as session:
        lic: License = getattr(_service(ctx, session), action)(ctx.actor, license_key, *args)
    log_change(ctx.request, ctx.principal, action, lic)  # committed
    return lic


def _lifecycle(action: str, done: str, what: str) -> None:
    def handler(
        license_key: str,
        ctx: PortalContext = Depends(portal_context),
        form: FormData = Depends(portal_form),
    ) -> Response:
        ctx.require(Scope.LICENSES_WRITE, what)
        lic = _change(ctx, license_key, action)
        return see_other(f"/portal/licenses/{lic.license_key}?done={done}")

    handler.__name__ = f"portal_{action}_license"
    router.add_api_route(f"/portal/licenses/{{license_key}}/{action}", handler, methods=["POST"])


_lifecycle("suspend", "suspended", "suspend licenses")
_lifecycle("reinstate", "reinstated", "reinstate licenses")
_lifecycle("revoke", "revoked", "revoke licenses")


@router.post("/portal/licenses/{license_key}/renew")
def renew(
    license_key: str,
    ctx: PortalContext = Depends(portal_context),
    form: FormData = Depends(portal_form),
) -> Response:
    ctx.require(Scope.LICENSES_WRITE, "renew licenses")
    days = text(form, "valid_days", 12)
    try:
        body = RenewIn(valid_days=int(days)) if days.isdigit() else None
    except ValidationError:
        body = None
    if body is None:
        message = "Renew for: a whole number of days, from 1 to 3650."
        # The page again (404 for a license that is not the account's), with the error.
        return _detail_page(ctx, license_key, error=message, status_code=400, renew_days=days)
    lic = _change(ctx, license_key, "renew", body.valid_days)
    return see_other(f"/portal/licenses/{lic.license_key}?done=renewed")
