"""What every part of UserService shares: the session, the clock, the audit helper and the
rules about who may touch whom (quantumlock.identity.roles.RANK)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import InsufficientScope, NotFound, ValidationFailed
from quantumlock.identity.events import IdentityEventType, record_event
from quantumlock.identity.models import User
from quantumlock.identity.roles import RANK, Role
from quantumlock.identity.users.repository import UserRepository
from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import Sealer

CHANGE_KIND_USER = "user"
DEFAULT_IDLE = timedelta(hours=12)
DEFAULT_MAX_AGE = timedelta(days=7)

# Deliberately loose: one "@", something on each side, no spaces. Deliverability is the
# account's business; the address is an identifier here.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def checked_email(email: str) -> str:
    value = normalise_email(email)
    if len(value) > 320 or not _EMAIL.match(value) or "." not in value.rpartition("@")[2]:
        raise ValidationFailed("email: not an email address.", field="email")
    return value


def checked_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed(f"role: must be one of {allowed}.", field="role") from None


class UserServiceBase:
    def __init__(
        self,
        session: Session,
        hasher: KeyHasher,
        sealer: Sealer,
        *,
        clock: Callable[[], datetime] = utcnow,
        session_idle: timedelta = DEFAULT_IDLE,
        session_max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self.session = session
        self.repo = UserRepository(session)
        self.hasher = hasher
        self.sealer = sealer
        self.clock = clock
        self.session_idle = session_idle
        self.session_max_age = session_max_age

    def now(self) -> datetime:
        return self.clock()

    def event(
        self,
        user: User,
        action: IdentityEventType,
        *,
        actor_id: str,
        address: str | None,
        mode: str = "live",
        detail: dict[str, Any] | None = None,
    ) -> None:
        record_event(
            self.session,
            account_id=user.account_id,
            action=action,
            actor_id=actor_id,
            object_id=user.id,
            mode=mode,
            address=address,
            detail=detail,
        )

    def user_in_account(self, actor: Actor, user_id: str) -> User:
        """The account's user, or 404 (also for another account's user)."""
        user = self.repo.get_in_account(actor.account_id, user_id)
        if user is None:
            raise NotFound(f"No user {user_id!r}.")
        return user

    def acting_rank(self, actor: Actor, acting_user_id: str | None) -> int:
        """The rank of who acts: a signed-in user's role; an API key with `admin` or the
        operator act for the account itself, as an owner would."""
        if acting_user_id is None:
            return RANK[Role.OWNER]
        acting = self.repo.get_in_account(actor.account_id, acting_user_id)
        return RANK[Role(acting.role)] if acting is not None else -1

    def check_rank(self, actor: Actor, acting_user_id: str | None, *roles: Role | str) -> None:
        """Refuse (403) a user acting on, or granting, a role above their own; and any change
        made in test mode: users belong to no mode, and test mode stays a sandbox."""
        if actor.is_test:
            raise InsufficientScope(
                "Users are changed with live credentials: a test-mode key can only read them."
            )
        rank = self.acting_rank(actor, acting_user_id)
        if any(RANK[Role(role)] > rank for role in roles):
            raise InsufficientScope("Only an owner can create, change or remove an owner.")
