"""/api/v2/users: an account's users, their sessions, one-time password links and 2FA.

Scope `admin`. Users belong to the account, not to a mode: a live or a test key manages the
same users. When a signed-in user acts (an OAuth token of theirs), the RANK rules apply: an
admin cannot touch owners nor make anyone owner.
"""

from __future__ import annotations

import structlog
from fastapi import Query, Request, Response

from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import Envelope
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import Conflict, InsufficientScope
from quantumlock.identity.users.endpoints import user_service
from quantumlock.identity.users.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    CreatedUserOut,
    CreateUserIn,
    PasswordLinkOut,
    RecoveryCodesOut,
    RevokedSessionsOut,
    SessionList,
    SessionOut,
    TotpConfirmIn,
    TotpStartOut,
    UpdateUserIn,
    UserList,
    UserOut,
)
from quantumlock.identity.users.service import set_password_url
from quantumlock.web.errors import request_id_of
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import client_address, get_runtime, require, unit_of_work

router = PrefixRouter(prefix="/api/v2/users", tags=["users"])
log = structlog.get_logger("quantumlock.identity.users")


def base_url(request: Request) -> str:
    """QL_ISSUER when set (the public URL), else the request's own base URL."""
    issuer: str | None = getattr(get_runtime(request).settings, "issuer", None)
    return (issuer or str(request.base_url)).rstrip("/")


def _log(request: Request, principal: Principal, action: str, user_id: str) -> None:
    log.info(
        f"user.{action}",
        request_id=request_id_of(request),
        account_id=principal.account_id,
        key_id=principal.key_id,
        user_id=user_id,
    )


@router.get("", response_model=Envelope[UserList], summary="List the account's users")
def list_users(
    request: Request,
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, max_length=64, description="A page's `next_cursor`."),
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Newest first, `limit` per page (1-1000, default 100); pass `next_cursor` as `cursor`
    for the next page. Never a password hash, TOTP secret or token."""
    with unit_of_work(request) as session:
        page = user_service(request, session).page(principal.actor, cursor=cursor, limit=limit)
        users = [UserOut.from_row(u) for u in page.rows]
        next_cursor = users[-1].id if page.has_more else None
        out = UserList(users=users, has_more=page.has_more, next_cursor=next_cursor)
        return model_response(Envelope(data=out))


@router.post(
    "",
    status_code=201,
    response_model=Envelope[CreatedUserOut],
    summary="Create a user (with a one-time set-password link when no password is given)",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def create_user(
    request: Request, body: CreateUserIn, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """A new user of the account with `role` (owner, admin, member, viewer). The email is
    normalised (trimmed, lower-cased) and must be unused (409). A `password` must pass the
    strength floor and the breached-password list (400); without one, `set_password_url`
    is a one-time link (24 h) for the user, shown only in this answer."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            created = user_service(request, session).create(
                principal.actor,
                email=body.email,
                role=body.role,
                name=body.name or "",
                password=body.password,
                acting_user_id=principal.user_id,
                address=client_address(request),
            )
            url = (
                set_password_url(base_url(request), created.link_token)
                if created.link_token is not None
                else None
            )
            out = CreatedUserOut(
                **UserOut.from_row(created.user).model_dump(),
                set_password_url=url,
                set_password_expires_at=created.link_expires_at,
            )
            response = idem.answer(session, model_response(Envelope(data=out), 201))
        _log(request, principal, "create", created.user.id)
        return response


@router.get("/{user_id}", response_model=Envelope[UserOut], summary="Get a user")
def get_user(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Another account's user is 404."""
    with unit_of_work(request) as session:
        user = user_service(request, session).get_in_account(principal.actor, user_id)
        return model_response(Envelope(data=UserOut.from_row(user)))


@router.patch(
    "/{user_id}",
    response_model=Envelope[UserOut],
    summary="Rename a user or change their role",
    responses=may_raise(Conflict),
)
def update_user(
    request: Request,
    user_id: str,
    body: UpdateUserIn,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Absent fields stay. Demoting the account's last active owner is 409. A role change
    narrows the user's tokens at once."""
    with unit_of_work(request) as session:
        user = user_service(request, session).update(
            principal.actor,
            user_id,
            name=body.name,
            role=body.role,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
        response = model_response(Envelope(data=UserOut.from_row(user)))
    _log(request, principal, "update", user_id)
    return response


@router.delete(
    "/{user_id}", status_code=204, summary="Delete a user", responses=may_raise(Conflict)
)
def delete_user(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """The user, their sessions and links go; their tokens are refused. The account's last
    active owner cannot be deleted (409). The audit trail keeps the events."""
    with unit_of_work(request) as session:
        user_service(request, session).delete(
            principal.actor,
            user_id,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
    _log(request, principal, "delete", user_id)
    return Response(status_code=204)


def _status_change(request: Request, principal: Principal, user_id: str, action: str) -> Response:
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            users = user_service(request, session)
            change = users.disable if action == "disable" else users.enable
            user = change(
                principal.actor,
                user_id,
                acting_user_id=principal.user_id,
                address=client_address(request),
            )
            response = idem.answer(session, model_response(Envelope(data=UserOut.from_row(user))))
        _log(request, principal, action, user_id)
        return response


@router.post(
    "/{user_id}/disable",
    response_model=Envelope[UserOut],
    summary="Disable a user",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def disable_user(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """The user can no longer sign in; their sessions end and their tokens are refused on
    every node within a second. The last active owner cannot be disabled (409)."""
    return _status_change(request, principal, user_id, "disable")


@router.post(
    "/{user_id}/enable",
    response_model=Envelope[UserOut],
    summary="Enable a disabled user",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def enable_user(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Sign-in works again (the lock-out counter is reset)."""
    return _status_change(request, principal, user_id, "enable")


@router.post(
    "/{user_id}/password-link",
    status_code=201,
    response_model=Envelope[PasswordLinkOut],
    summary="Make a one-time password link (reset)",
    openapi_extra=IDEMPOTENT_OPENAPI,
)
def password_link(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """A new one-time link (24 h, single use) where the user sets a new password; an earlier
    unused link stops working. Using it ends the user's sessions. Shown once."""
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            user, token, expires_at = user_service(request, session).password_link(
                principal.actor, user_id, acting_user_id=principal.user_id
            )
            out = PasswordLinkOut(
                user_id=user.id,
                url=set_password_url(base_url(request), token),
                expires_at=expires_at,
            )
            response = idem.answer(session, model_response(Envelope(data=out), 201))
        _log(request, principal, "password_link", user_id)
        return response


@router.get(
    "/{user_id}/sessions", response_model=Envelope[SessionList], summary="A user's sessions"
)
def list_sessions(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """The user's live sign-in sessions, newest first (never their tokens)."""
    with unit_of_work(request) as session:
        rows = user_service(request, session).sessions(principal.actor, user_id)
        out = SessionList(sessions=[SessionOut.from_row(r) for r in rows])
        return model_response(Envelope(data=out))


@router.delete(
    "/{user_id}/sessions",
    response_model=Envelope[RevokedSessionsOut],
    summary="End all of a user's sessions",
)
def revoke_sessions(
    request: Request, user_id: str, principal: Principal = require(Scope.ADMIN)
) -> Response:
    """Every session of the user ends now (they must sign in again)."""
    with unit_of_work(request) as session:
        count = user_service(request, session).revoke_sessions(
            principal.actor,
            user_id,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
        response = model_response(Envelope(data=RevokedSessionsOut(revoked=count)))
    _log(request, principal, "revoke_sessions", user_id)
    return response


@router.delete(
    "/{user_id}/sessions/{session_id}", status_code=204, summary="End one session of a user"
)
def revoke_session(
    request: Request,
    user_id: str,
    session_id: str,
    principal: Principal = require(Scope.ADMIN),
) -> Response:
    """Ending an ended session changes nothing (204 again); another user's is 404."""
    with unit_of_work(request) as session:
        user_service(request, session).revoke_session(
            principal.actor,
            user_id,
            session_id,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
    return Response(status_code=204)


# -- two-factor -------------------------------------------------------------------------------


def _self_or_admin_key(principal: Principal, user_id: str, *, admin_user_ok: bool) -> None:
    """2FA is the user's own: their token, or an account API key with `admin` (or, to
    reset it, a signed-in admin)."""
    if principal.user_id == user_id:
        return
    if Scope.ADMIN in principal.scopes and (principal.user_id is None or admin_user_ok):
        return
    raise InsufficientScope("Only the user themself (or an admin API key) can do this.")


@router.post(
    "/{user_id}/totp",
    status_code=201,
    response_model=Envelope[TotpStartOut],
    summary="Start two-factor enrolment (TOTP)",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def start_totp(request: Request, user_id: str, principal: Principal = require()) -> Response:
    """A new TOTP secret and its `otpauth://` URI, shown once: add it to an authenticator app,
    then confirm with a code. Until confirmed, sign-in does not ask for a code. 409 while
    two-factor is already on."""
    _self_or_admin_key(principal, user_id, admin_user_ok=False)
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        _user, secret, uri = user_service(request, session).start_totp(
            principal.actor, user_id, acting_user_id=principal.user_id
        )
        out = TotpStartOut(secret=secret, provisioning_uri=uri)
        return idem.answer(session, model_response(Envelope(data=out), 201))


@router.post(
    "/{user_id}/totp/confirm",
    response_model=Envelope[RecoveryCodesOut],
    summary="Confirm two-factor enrolment with a code",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict),
)
def confirm_totp(
    request: Request, user_id: str, body: TotpConfirmIn, principal: Principal = require()
) -> Response:
    """A valid code turns two-factor on and answers 10 single-use recovery codes, shown
    once (stored hashed). A wrong code is 400."""
    _self_or_admin_key(principal, user_id, admin_user_ok=False)
    with idempotent(request, principal) as idem:
        with unit_of_work(request) as session:
            codes = user_service(request, session).confirm_totp(
                principal.actor,
                user_id,
                body.totp_code,
                acting_user_id=principal.user_id,
                address=client_address(request),
            )
            out = RecoveryCodesOut(recovery_codes=codes)
            response = idem.answer(session, model_response(Envelope(data=out)))
        _log(request, principal, "totp_enable", user_id)
        return response


@router.delete("/{user_id}/totp", response_model=Envelope[UserOut], summary="Turn two-factor off")
def disable_totp(request: Request, user_id: str, principal: Principal = require()) -> Response:
    """Two-factor off for the user (the user themself, or an admin resetting a lost
    authenticator); the recovery codes stop working."""
    _self_or_admin_key(principal, user_id, admin_user_ok=True)
    with unit_of_work(request) as session:
        user = user_service(request, session).disable_totp(
            principal.actor,
            user_id,
            acting_user_id=principal.user_id,
            address=client_address(request),
        )
        response = model_response(Envelope(data=UserOut.from_row(user)))
    _log(request, principal, "totp_disable", user_id)
    return response
