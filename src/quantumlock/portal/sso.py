"""/portal/account/sso: the account's SAML connection (the rules of /api/v2/sso/saml).

Seeing it needs the `admin` scope (owners and admins); changing or deleting it also needs
owner level (`Principal.grants_admin`), as the service enforces: the connection's IdP can
sign in as anyone, owners included. "Test the connection" is an SP-initiated sign-in
(/saml/{account}/login) that comes back here with `?tested=1`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import AppError
from quantumlock.identity.models import SamlConnection
from quantumlock.identity.pages import base_url
from quantumlock.identity.saml.metadata import MAX_METADATA_BYTES
from quantumlock.identity.saml.presets import PRESETS
from quantumlock.identity.saml.schemas import SamlConnectionIn, SamlConnectionOut
from quantumlock.identity.saml.service import DEFAULTS, MAX_SKEW, SamlConfigService
from quantumlock.identity.saml.urls import sp_urls
from quantumlock.identity.users.endpoints import saml_available
from quantumlock.portal.core import (
    PortalContext,
    PortalError,
    as_page_errors,
    forbidden,
    invalid_input,
    not_found,
    notice,
    plain_words,
    portal_context,
    portal_form,
    see_other,
    text,
)
from quantumlock.web.security import client_address

router = APIRouter(include_in_schema=False)

PAGE = "/portal/account/sso"
PRESET_LABELS = {
    "custom": "Custom (attribute names email, name, groups)",
    "okta": "Okta",
    "azure_ad": "Microsoft Entra ID (Azure AD)",
    "auth0": "Auth0",
}
SSO_ROLES = (("member", "Member"), ("viewer", "Viewer"), ("admin", "Admin"))
CHECKBOXES = ("jit_provisioning", "allow_idp_initiated", "sso_required", "enabled")
MAX_GROUP_LINES = 100
UNAVAILABLE = (
    "Single sign-on is not installed on this server: it needs the SAML extra "
    "(pip install 'quantumlock[saml]', with the xmlsec library). Ask your operator to "
    "install it and restart the service."
)
DONE = {
    "saved": "The single sign-on connection was saved.",
    "deleted": (
        "The single sign-on connection was deleted. Everyone signs in with a password again."
    ),
}


def _service(ctx: PortalContext, session: Any) -> SamlConfigService:
    return SamlConfigService(session, ctx.runtime.sealer)


def _can_change(ctx: PortalContext) -> bool:
    return ctx.can(Scope.ADMIN) and ctx.principal.grants_admin


def _require_change(ctx: PortalContext) -> None:
    ctx.require(Scope.ADMIN, "change the account's single sign-on")
    if not ctx.principal.grants_admin:
        raise forbidden("change the account's single sign-on (only an owner can)")


def _require_installed() -> None:
    if not saml_available():
        raise PortalError(503, "Single sign-on is not installed", UNAVAILABLE)


def _form_values(conn: SamlConnection | None) -> dict[str, Any]:
    """What the form shows: the connection's settings, or the defaults for a new one."""
    source: dict[str, Any] = dict(DEFAULTS)
    if conn is not None:
        source = {name: getattr(conn, name) for name in DEFAULTS if name != "attributes"}
    return {
        "idp_metadata_xml": "",
        "preset": source["preset"],
        "default_role": source["default_role"],
        "group_roles": "\n".join(f"{g} = {r}" for g, r in sorted(source["group_roles"].items())),
        "clock_skew_seconds": str(source["clock_skew_seconds"]),
        **{name: bool(source[name]) for name in CHECKBOXES},
    }


def _posted_values(form: FormData) -> dict[str, Any]:
    """The form as posted, to show again with an error."""
    return {
        "idp_metadata_xml": text(form, "idp_metadata_xml", MAX_METADATA_BYTES + 1),
        "preset": text(form, "preset", 40),
        "default_role": text(form, "default_role", 40),
        "group_roles": text(form, "group_roles", 40_000),
        "clock_skew_seconds": text(form, "clock_skew_seconds", 20),
        **{name: form.get(name) == "on" for name in CHECKBOXES},
    }


class BadForm(Exception):
    pass


def _group_roles(raw: str) -> dict[str, str]:
    """One mapping a line, `IdP group = role`; the last `=` splits (a group name may hold one)."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    if len(lines) > MAX_GROUP_LINES:
        raise BadForm(f"Group mappings: at most {MAX_GROUP_LINES} lines.")
    mapping: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        group, sep, role = line.rpartition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group or role not in ("admin", "member", "viewer"):
            raise BadForm(
                f"Group mappings, line {number}: write it as “IdP group = role”, with the "
                "role admin, member or viewer."
            )
        mapping[group] = role
    return mapping


def _fields(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The posted form as the API's fields, checked by the API's own schema."""
    xml = values["idp_metadata_xml"]
    if len(xml) > MAX_METADATA_BYTES:
        raise BadForm("IdP metadata: at most 256 KiB.")
    if creating and not xml:
        raise BadForm(
            "IdP metadata: paste your identity provider's metadata XML (or choose its file)."
        )
    try:
        skew = int(values["clock_skew_seconds"] or "60")
    except ValueError:
        raise BadForm(f"Clock skew: a whole number of seconds from 0 to {MAX_SKEW}.") from None
    body: dict[str, Any] = {
        "preset": values["preset"],
        "default_role": values["default_role"],
        "group_roles": _group_roles(values["group_roles"]),
        "clock_skew_seconds": skew,
        **{name: values[name] for name in CHECKBOXES},
    }
    if xml:
        body["idp_metadata_xml"] = xml
    try:
        checked = SamlConnectionIn.model_validate(body)
    except ValidationError as error:
        raise BadForm(invalid_input(error)) from None
    return checked.model_dump(exclude_unset=True)


def _tested_by_sso(ctx: PortalContext) -> bool:
    """Back from "Test the connection" in a session the IdP's sign-in started."""
    return ctx.request.query_params.get("tested") == "1" and ctx.session.method == "sso"


def _page(
    ctx: PortalContext,
    conn: SamlConnection | None,
    service: SamlConfigService | None,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    account_id = ctx.user.account_id
    base = base_url(ctx.request)
    view = (
        SamlConnectionOut.from_row(conn, service.effective_attributes(conn), base)
        if conn is not None and service is not None
        else None
    )
    tested = ctx.request.query_params.get("tested") == "1"
    return ctx.render(
        "sso/page.html",
        status_code=status_code,
        nav=PAGE,
        installed=True,
        conn=view,
        urls=sp_urls(base, account_id),
        test_url=f"/saml/{account_id}/login?next=" + quote(PAGE + "?tested=1", safe=""),
        tested=tested,
        tested_by_sso=_tested_by_sso(ctx),
        can_change=_can_change(ctx),
        values=values if values is not None else _form_values(conn),
        presets=[(p, PRESET_LABELS.get(p, p)) for p in PRESETS],
        preset_labels=PRESET_LABELS,
        roles=SSO_ROLES,
        max_skew=MAX_SKEW,
        notice=notice(ctx.request, DONE),
        error=error,
    )


@router.get(PAGE)
def sso_page(ctx: PortalContext = Depends(portal_context)) -> Response:
    if _tested_by_sso(ctx) and not ctx.can(Scope.ADMIN):
        # The test signed in a user who may not see this page: the result still shows.
        return ctx.render(
            "error.html",
            nav=PAGE,
            title="Test passed",
            message=(
                f"Single sign-on works: you are signed in through your identity provider as "
                f"{ctx.user.email} ({ctx.user.role}). Your role does not allow you to see the "
                "account's single sign-on."
            ),
            back="/portal",
            back_text="Go to the overview",
        )
    ctx.require(Scope.ADMIN, "see the account's single sign-on")
    if not saml_available():
        return ctx.render("sso/page.html", nav=PAGE, installed=False, message=UNAVAILABLE)
    with ctx.unit_of_work() as session:
        service = _service(ctx, session)
        conn = service.get(ctx.user.account_id)
        return _page(ctx, conn, service)


@router.post(PAGE)
def sso_save(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    """Create the connection, or change the current one: blank metadata keeps its IdP,
    and its attribute names (set through the API) stay."""
    _require_change(ctx)
    _require_installed()
    values = _posted_values(form)
    with ctx.unit_of_work() as session:
        service = _service(ctx, session)
        conn = service.get(ctx.user.account_id)
        try:
            fields = _fields(values, creating=conn is None)
            _save(ctx, service, conn, fields)
        except (BadForm, AppError) as failure:
            if isinstance(failure, AppError) and failure.status_code != 400:
                raise PortalError(failure.status_code, "Not saved", plain_words(failure)) from None
            message = plain_words(failure) if isinstance(failure, AppError) else str(failure)
            session.rollback()
            return _page(ctx, conn, service, values=values, error=message, status_code=400)
    return see_other(PAGE + "?done=saved")


def _save(
    ctx: PortalContext,
    service: SamlConfigService,
    conn: SamlConnection | None,
    fields: dict[str, Any],
) -> None:
    who: dict[str, Any] = {
        "owner_level": ctx.principal.grants_admin,
        "acting_user_id": ctx.user.id,
        "address": client_address(ctx.request),
    }
    if conn is None:
        service.configure(ctx.actor, fields, **who)
    else:
        service.update(ctx.actor, fields, **who)


@router.get(PAGE + "/delete")
def sso_delete_confirm(ctx: PortalContext = Depends(portal_context)) -> Response:
    _require_change(ctx)
    _require_installed()
    with ctx.unit_of_work() as session:
        conn = _service(ctx, session).get(ctx.user.account_id)
        if conn is None:
            raise not_found("single sign-on connection")
        entity_id = conn.idp_entity_id
    return ctx.render("sso/delete.html", nav=PAGE, entity_id=entity_id)


@router.post(PAGE + "/delete")
def sso_delete(
    ctx: PortalContext = Depends(portal_context), form: FormData = Depends(portal_form)
) -> Response:
    del form  # CSRF checked
    _require_change(ctx)
    _require_installed()
    with ctx.unit_of_work() as session:
        service = _service(ctx, session)
        if service.get(ctx.user.account_id) is None:
            raise not_found("single sign-on connection")
        with as_page_errors("Not deleted"):
            service.delete(
                ctx.actor,
                owner_level=ctx.principal.grants_admin,
                acting_user_id=ctx.user.id,
                address=client_address(ctx.request),
            )
    return see_other(PAGE + "?done=deleted")
