"""The identity audit trail: event types and the one way to record one.

Events go to `identity_events` in the caller's unit of work (quantumlock.identity.models),
and the audit domain reads them with the other event tables (GET /api/v2/audit).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy.orm import Session

from quantumlock.core.clock import utcnow
from quantumlock.identity.models import IdentityEvent

IdentityEventType = Literal[
    "user.create",
    "user.update",
    "user.disable",
    "user.enable",
    "user.delete",
    "user.password_set",
    "user.totp_enable",
    "user.totp_disable",
    "user.login",
    "user.login_failed",
    "user.locked",
    "user.logout",
    "session.revoke",
    "oauth_client.create",
    "oauth_client.update",
    "oauth_client.rotate_secret",
    "oauth_client.disable",
    "oauth_client.enable",
    "oauth_client.delete",
    "service_account.create",
    "service_account.update",
    "service_account.rotate_secret",
    "service_account.disable",
    "service_account.enable",
    "service_account.delete",
    "token.grant",
    "token.refresh",
    "token.refresh_reuse",
    "token.code_reuse",
    "token.revoke",
    "token.client_auth_failed",
    "saml.config_create",
    "saml.config_update",
    "saml.config_delete",
    "saml.login",
    "saml.login_failed",
    "saml.logout",
    "saml.logout_failed",
]
IDENTITY_EVENT_TYPES: tuple[str, ...] = get_args(IdentityEventType)


def record_event(
    session: Session,
    *,
    account_id: str,
    action: IdentityEventType,
    actor_id: str,
    object_id: str,
    mode: str = "live",
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event to the caller's transaction. `detail` must hold no secret."""
    if action not in IDENTITY_EVENT_TYPES:  # a typo would otherwise vanish from filters
        raise ValueError(f"unknown identity event type {action!r}")
    session.add(
        IdentityEvent(
            account_id=account_id,
            mode=mode,
            action=action,
            actor_id=actor_id,
            object_id=object_id,
            address=address,
            detail=detail or {},
            at=utcnow(),
        )
    )
