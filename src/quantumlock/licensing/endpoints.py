"""/api/v1/licenses: thin routers over LicenseService (validation: LicenseValidator)."""

from __future__ import annotations

from functools import partial
from typing import Literal

import structlog
from anyio import to_thread
from fastapi import Query, Request, Response
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import as_utc
from quantumlock.core.errors import Conflict, QuantumUnavailable, QuotaExceeded
from quantumlock.licensing.domain import licensing_of
from quantumlock.licensing.models import License
from quantumlock.licensing.schemas import (
    GenerateIn,
    GenerateOut,
    LicenseEventList,
    LicenseEventOut,
    LicenseList,
    LicenseListItem,
    LicenseOut,
    RenewIn,
    SigningKeyOut,
    SigningKeys,
    ValidateIn,
    ValidateOut,
)
from quantumlock.licensing.service import (
    LicenseService,
    Quota,
)
from quantumlock.web.body import json_body, json_body_openapi
from quantumlock.web.errors import request_id_of
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import get_runtime, require, unit_of_work

log = structlog.get_logger("quantumlock.licensing")

router = PrefixRouter(prefix="/api/v1/licenses", tags=["licenses"])
# Validation, the hottest route of all, in a router of its own that the app includes first:
# FastAPI tries routes in order, and each route passed over costs a few microseconds.
validation_router = PrefixRouter(prefix="/api/v1/licenses", tags=["licenses"])


def service(request: Request, session: Session) -> LicenseService:
    return licensing_of(request).service(session)


def set_quota_headers(request: Request, quota: Quota | None) -> None:
    """X-Quota-* on license responses (live mode: test-mode licenses are not counted)."""
    if quota is not None:
        request.scope["state"]["quota"] = quota_state(quota)


def quota_state(quota: Quota | None) -> tuple[int | str, int | str, int] | None:
    """The X-Quota-* values (limit, remaining, reset epoch) the middleware writes."""
    if quota is None:
        return None
    limit = "unlimited" if quota.limit is None else quota.limit
    remaining = "unlimited" if quota.remaining is None else quota.remaining
    return (limit, remaining, int(quota.reset_at.timestamp()))


def log_change(request: Request, principal: Principal, action: str, lic: License) -> None:
    """A committed lifecycle change as a log event named like its audit type
    (`license.revoke`): the license id, not its key (the key is what a shipped application
    presents to validate)."""
    log.info(
        f"license.{action}",
        request_id=request_id_of(request),
        account_id=principal.account_id,
        key_id=principal.key_id,
        mode=principal.mode.value,
        license_id=lic.id,
        status=lic.status,
    )


def _quota_for(request: Request, principal: Principal, svc: LicenseService) -> None:
    if not principal.is_test:
        set_quota_headers(request, svc.quota(principal.account_id, principal.limits))


@router.post(
    "/generate",
    status_code=201,
    response_model=GenerateOut,
    summary="Generate a license (counts against the monthly quota)",
    openapi_extra={**json_body_openapi(GenerateIn), **IDEMPOTENT_OPENAPI},
    responses=may_raise(Conflict, QuantumUnavailable),
)
async def generate(
    request: Request, principal: Principal = require(Scope.LICENSES_WRITE)
) -> Response:
    """A new license for `end_customer_id`, valid `valid_days` days, with `features` and
    `metadata`, signed for online validation and as an offline license file (`license_file`,
    Ed25519 + ML-DSA-65). A live key's license counts against the plan's monthly quota
    (`X-Quota-*` headers); past it, 429 with `reason: monthly_quota`. A test key's licenses
    are not counted and verify only as test licenses."""
    body = await json_body(request, GenerateIn)
    licensing = licensing_of(request)
    async with idempotent(request, principal) as idem:
        try:
            lic, quota = await licensing.issuer.generate(
                principal.actor,
                principal.limits,
                end_customer_id=body.end_customer_id,
                features=body.features,
                valid_days=body.valid_days,
                metadata=body.metadata,
                metadata_checked=True,  # GenerateIn's validator
                # The idempotent answer is stored in the license's own transaction (the
                # group commit's), with the quota that license left.
                also=None if idem.claim is None else partial(_answer, idem),
            )
        except QuotaExceeded:  # the X-Quota-* headers say so too
            get_runtime(request).metrics.quota_refusals.labels(principal.limits.plan).inc()
            await to_thread.run_sync(_quota_headers_read, request, principal)
            raise
        get_runtime(request).metrics.licenses_issued.labels(
            principal.limits.plan, principal.mode.value
        ).inc()
        log_change(request, principal, "generate", lic)
        set_quota_headers(request, quota)
        return idem.answer_headers(model_response(GenerateOut.from_row(lic), 201))


def _answer(idem: idempotent, session: Session, lic: License, quota: Quota | None) -> None:
    idem.answer(session, model_response(GenerateOut.from_row(lic), 201), quota=quota_state(quota))


def _quota_headers_read(request: Request, principal: Principal) -> None:
    with unit_of_work(request) as session:
        _quota_for(request, principal, licensing_of(request).service(session))


@validation_router.post(
    "/validate",
    response_model=ValidateOut,
    summary="Validate a license (online)",
    openapi_extra=json_body_openapi(ValidateIn),
)
async def validate(
    request: Request, principal: Principal = require(Scope.LICENSES_VALIDATE)
) -> Response:
    """Whether `license_key` is a valid license of this account for `end_customer_id` (and,
    if given, includes all of `features`). An invalid license is a 200 with `valid: false`
    and `code` saying why (NOT_FOUND, EXPIRED, REVOKED, SUSPENDED, CUSTOMER_MISMATCH,
    SIGNATURE_INVALID, FEATURES_MISSING with `missing_features`); a restricted key with
    `licenses:validate` is enough."""
    body = await json_body(request, ValidateIn)
    result = await licensing_of(request).validator.validate(
        principal.account_id,
        principal.mode.value,
        body.license_key,
        body.end_customer_id,
        body.features or (),
    )
    get_runtime(request).metrics.validated(result.code.value)
    lic = result.license if result.valid else None
    out = ValidateOut(
        valid=result.valid,
        end_customer_id=body.end_customer_id,
        quantum_verified=bool(lic and lic.quantum_verified),
        features=list(lic.features) if lic else None,
        expires_at=as_utc(lic.valid_until) if lic else None,
        message=result.message,
        code=result.code.value,
        missing_features=list(result.missing_features) or None,
    )
    return model_response(out)


@router.get("", response_model=LicenseList, summary="List licenses")
def list_licenses(
    request: Request,
    skip: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
    end_customer_id: str | None = Query(None, min_length=1, max_length=256),
    status: Literal["active", "suspended", "revoked", "expired"] | None = Query(None),
    principal: Principal = require(Scope.LICENSES_READ),
) -> Response:
    """The account's licenses of the calling key's mode, newest first, `skip`/`limit` paged,
    optionally filtered by `end_customer_id` and `status` (`expired`: past `valid_until`);
    `total` counts all that match."""
    with unit_of_work(request) as session:
        svc = service(request, session)
        total, rows = svc.list(
            principal.actor,
            skip=skip,
            limit=limit,
            end_customer_id=end_customer_id,
            status=status,
        )
        _quota_for(request, principal, svc)
        page = LicenseList(
            total=total,
            skip=skip,
            limit=limit,
            licenses=[LicenseListItem.from_row(r) for r in rows],
        )
        return model_response(page)


@router.get(
    "/signing-keys",
    response_model=SigningKeys,
    summary="Public keys that verify offline license files (of the key's mode)",
)
def signing_keys(
    request: Request, principal: Principal = require(Scope.LICENSES_VALIDATE)
) -> Response:
    """The Ed25519 and ML-DSA-65 public keys (by `kid`) that verify this account's offline
    license files of the calling key's mode: the `active` key, which signs new files, and
    the `verify_only` keys rotated out before it, which still verify the files they signed.
    For applications that verify files without calling the service."""
    # A test key gets the test-mode keys only, a live key the live ones only.
    with unit_of_work(request) as session:
        keys = service(request, session).signing_keys(principal.account_id, principal.mode.value)
        return model_response(SigningKeys(keys=[SigningKeyOut.from_row(k) for k in keys]))


@router.get("/{license_key}", response_model=LicenseOut, summary="Get a license")
def get_license(
    request: Request, license_key: str, principal: Principal = require(Scope.LICENSES_READ)
) -> Response:
    """One license with its status, metadata and offline license file. Another account's
    license, and the other mode's, are 404."""
    with unit_of_work(request) as session:
        svc = service(request, session)
        lic = svc.get(principal.actor, license_key)
        _quota_for(request, principal, svc)
        return model_response(LicenseOut.from_row(lic))


@router.get(
    "/{license_key}/events",
    response_model=LicenseEventList,
    summary="A license's lifecycle events (audit trail), newest first",
)
def license_events(
    request: Request,
    license_key: str,
    skip: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(50, ge=1, le=500),
    principal: Principal = require(Scope.LICENSES_READ),
) -> Response:
    """Who generated, revoked, suspended, reinstated or renewed the license, and when: the
    acting key's id (or the CLI operator's) and what changed. Another account's license,
    or one of the other mode, is 404."""
    with unit_of_work(request) as session:
        total, rows = service(request, session).event_page(
            principal.actor, license_key, skip=skip, limit=limit
        )
        page = LicenseEventList(
            total=total,
            skip=skip,
            limit=limit,
            events=[LicenseEventOut.from_row(e) for e in rows],
        )
        return model_response(page)


# A lifecycle change announces itself when the unit of work commits: the validation cache
# forgets the license at once here, and in the other processes through the change feed.


def _lifecycle(action: str, summary: str, description: str) -> None:
    def handler(
        request: Request, license_key: str, principal: Principal = require(Scope.LICENSES_WRITE)
    ) -> Response:
        with idempotent(request, principal) as idem:
            with unit_of_work(request) as session:
                svc = service(request, session)
                lic = getattr(svc, action)(principal.actor, license_key)
                _quota_for(request, principal, svc)
                response = idem.answer(session, model_response(LicenseOut.from_row(lic)))
            log_change(request, principal, action, lic)  # committed
            return response

    handler.__name__ = f"{action}_license"
    router.add_api_route(
        f"/{{license_key}}/{action}",
        handler,
        methods=["POST"],
        response_model=LicenseOut,
        summary=summary,
        openapi_extra=IDEMPOTENT_OPENAPI,
        description=description,
        responses=may_raise(Conflict),
    )


_lifecycle(
    "revoke",
    "Revoke a license (final)",
    "The license validates as REVOKED from now on, on every node, and cannot be reinstated "
    "or renewed. Revoking a revoked license is 409 CONFLICT.",
)
_lifecycle(
    "suspend",
    "Suspend a license (reinstate undoes it)",
    "The license validates as SUSPENDED until it is reinstated. Only an active license can "
    "be suspended (409 CONFLICT otherwise).",
)
_lifecycle(
    "reinstate",
    "Reinstate a suspended license",
    "A suspended license becomes active again. Only a suspended license can be reinstated "
    "(409 CONFLICT otherwise).",
)


@router.post(
    "/{license_key}/renew",
    response_model=LicenseOut,
    summary="Extend a license from the later of now and its expiry",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def renew(
    request: Request,
    license_key: str,
    body: RenewIn,
    principal: Principal = require(Scope.LICENSES_WRITE),
) -> Response:
    """`valid_until` moves to `valid_days` days after the later of now and the current
    expiry, and the license file is signed again. A revoked license cannot be renewed (409)."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            svc = service(request, session)
            lic = svc.renew(principal.actor, license_key, body.valid_days)
            _quota_for(request, principal, svc)
            response = idem.answer(session, model_response(LicenseOut.from_row(lic)))
        log_change(request, principal, "renew", lic)  # committed
        return response
