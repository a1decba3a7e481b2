"""Managing an account's users: list, update (role, name), disable, enable, delete, and
their sessions. RANK rules (quantumlock.identity.roles) and the last-owner rule live here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc
from quantumlock.core.errors import Conflict, NotFound, ValidationFailed
from quantumlock.db.changes import record_change
from quantumlock.db.pagination import Page
from quantumlock.identity.models import User, UserSession
from quantumlock.identity.roles import Role
from quantumlock.identity.users.service_base import (
    CHANGE_KIND_USER,
    UserServiceBase,
    checked_role,
)


class UserAdmin(UserServiceBase):
    def page(self, actor: Actor, *, cursor: str | None, limit: int) -> Page[User]:
        """The account's users, newest first (users belong to the account, not to a mode)."""
        return self.repo.page(actor.account_id, cursor=cursor, limit=limit)

    def get_in_account(self, actor: Actor, user_id: str) -> User:
        return self.user_in_account(actor, user_id)

    def _keep_an_owner(self, user: User) -> None:
        """The account's last active owner cannot stop being one."""
        active_owner = user.role == Role.OWNER and user.status == "active"
        if active_owner and self.repo.lock_active_owners(user.account_id) <= 1:
            raise Conflict("This is the account's last active owner: make another first.")

    def update(
        self,
        actor: Actor,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> User:
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        changed: dict[str, str] = {}
        if name is not None:
            name = name.strip()
            if len(name) > 200:
                raise ValidationFailed("name: at most 200 characters.", field="name")
            if name != user.name:
                user.name = name
                changed["name"] = name
        if role is not None:
            new_role = checked_role(role)
            self.check_rank(actor, acting_user_id, new_role)
            if new_role != user.role:
                if user.role == Role.OWNER:
                    self._keep_an_owner(user)
                changed["role"] = new_role.value
                changed["previous_role"] = user.role
                user.role = new_role.value
                # Tokens already issued to the user are narrowed at once (bearer listens).
                record_change(self.session, CHANGE_KIND_USER, user.id)
        if changed:
            user.updated_at = self.now()
            self.event(
                user,
                "user.update",
                actor_id=acting_user_id or actor.key_id,
                address=address,
                mode=actor.mode,
                detail=changed,
            )
        self.session.flush()
        return user

    def disable(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> User:
        """The user can no longer sign in; their sessions end and their tokens are refused."""
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        if user.status == "disabled":
            return user
        self._keep_an_owner(user)
        now = self.now()
        user.status = "disabled"
        user.disabled_at = now
        user.updated_at = now
        self.repo.revoke_sessions(user.id, now)
        record_change(self.session, CHANGE_KIND_USER, user.id)
        self.event(
            user,
            "user.disable",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
        )
        self.session.flush()
        return user

    def enable(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> User:
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        if user.status == "active":
            return user
        user.status = "active"
        user.disabled_at = None
        user.failed_logins = 0
        user.locked_until = None
        user.updated_at = self.now()
        record_change(self.session, CHANGE_KIND_USER, user.id)
        self.event(
            user,
            "user.enable",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
        )
        self.session.flush()
        return user

    def delete(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> None:
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        self._keep_an_owner(user)
        # The event outlives the user (object_id keeps the id); it names no secret.
        self.event(
            user,
            "user.delete",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
            detail={"email": user.email, "role": user.role},
        )
        record_change(self.session, CHANGE_KIND_USER, user.id)
        self.repo.delete_user(user)
        self.session.flush()

    # -- sessions -----------------------------------------------------------------------------

    def sessions(self, actor: Actor, user_id: str) -> Sequence[UserSession]:
        """The user's live sessions, newest first (never their tokens)."""
        user = self.user_in_account(actor, user_id)
        now = self.now()
        return [
            row
            for row in self.repo.live_sessions(user.id, now)
            if as_utc(row.last_seen_at) + self.session_idle > now
        ]

    def revoke_sessions(
        self,
        actor: Actor,
        user_id: str,
        *,
        keep_session_id: str | None = None,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> int:
        """End every session of the user, or every one but `keep_session_id` (the one
        asking: "sign out everywhere else"); how many ended."""
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        count = self.repo.revoke_sessions(user.id, self.now(), keep=keep_session_id)
        everything = keep_session_id is None
        if count or everything:
            record_change(self.session, CHANGE_KIND_USER, user.id)
        detail: dict[str, Any] = (
            {"all": True, "count": count}
            if everything
            else {"all": False, "others": True, "count": count}
        )
        self.event(
            user,
            "session.revoke",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
            detail=detail,
        )
        self.session.flush()
        return count

    def revoke_session(
        self,
        actor: Actor,
        user_id: str,
        session_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> None:
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        row = self.repo.get_session(user.id, session_id)
        if row is None:
            raise NotFound(f"No session {session_id!r}.")
        if row.revoked_at is None:
            row.revoked_at = self.now()
            self.event(
                user,
                "session.revoke",
                actor_id=acting_user_id or actor.key_id,
                address=address,
                mode=actor.mode,
                detail={"session_id": row.id},
            )
        self.session.flush()
