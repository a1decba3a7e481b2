"""User rules: creating users, signing in (passwords, second factor, lock-out), server-side
sessions and one-time password links. Management (list, update, disable, delete, sessions)
and TOTP enrolment live in the mixins this class is made of."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from quantumlock.auth.scopes import Scope
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc
from quantumlock.core.errors import Conflict, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.identity.models import User, UserSession, UserToken
from quantumlock.identity.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from quantumlock.identity.roles import Role, role_scopes
from quantumlock.identity.secrets import generate_token
from quantumlock.identity.users.service_admin import UserAdmin
from quantumlock.identity.users.service_base import (
    CHANGE_KIND_USER,
    checked_email,
    checked_role,
    normalise_email,
)
from quantumlock.identity.users.service_totp import UserTotp

__all__ = [
    "CHANGE_KIND_USER",
    "CreatedUser",
    "LoginResult",
    "UserService",
    "WrongPassword",
    "lock_seconds",
    "set_password_url",
]

LOCK_AFTER = 5  # consecutive failures before the first lock
LOCK_FIRST = 60  # seconds; doubled for each further failure
LOCK_MAX = 3600
LINK_TTL = timedelta(hours=24)
LINK_PURPOSES = ("set_password", "reset_password")
# A session's last_seen_at is written at most this often: every page would otherwise write.
LAST_SEEN_EVERY = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200
SET_PASSWORD_PATH = "/login/set-password/"  # noqa: S105 - a path, not a password
# Where the CLI's links point when QL_ISSUER is not set (the server's default address).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def set_password_url(base_url: str, token: str) -> str:
    """The one-time link's absolute URL (the token is URL-safe base64: no quoting needed)."""
    return base_url.rstrip("/") + SET_PASSWORD_PATH + token


class WrongPassword(ValidationFailed):
    """The current password given to change it is wrong (the caller counts a failure)."""


def lock_seconds(failures: int) -> int:
    """How long the `failures`-th consecutive failure locks the user out (0: not at all)."""
    if failures < LOCK_AFTER:
        return 0
    doublings: int = min(failures - LOCK_AFTER, 16)
    return min(LOCK_FIRST << doublings, LOCK_MAX)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A sign-in's outcome: `user` when it succeeded, else `refused` (invalid_credentials,
    locked, disabled, sso_required, totp_required, totp_invalid) and, when locked,
    `retry_after` seconds."""

    user: User | None
    refused: str | None
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: User
    # The one-time set-password link's token when no password was given (shown once).
    link_token: str | None
    link_expires_at: datetime | None


class UserService(UserAdmin, UserTotp):
    # -- reading ----------------------------------------------------------------------------

    def get(self, user_id: str) -> User | None:
        """Any user, in any status (the caller checks `is_active`)."""
        return self.repo.get(user_id)

    def scopes_of(self, user: User) -> frozenset[Scope]:
        return role_scopes(user.role)

    def is_active(self, user: User) -> bool:
        return user.status == "active"

    # -- creating ---------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        *,
        email: str,
        role: str,
        name: str = "",
        password: str | None = None,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> CreatedUser:
        """A new user of the actor's account. Without a password, a one-time set-password
        link (24 h) is made for them."""
        address_value = checked_email(email)
        role_value = checked_role(role)
        name = name.strip()
        if len(name) > 200:
            raise ValidationFailed("name: at most 200 characters.", field="name")
        self.check_rank(actor, acting_user_id, role_value)
        if password is not None:
            self._check_password(password, address_value)
        if self.repo.by_email(address_value) is not None:
            raise Conflict("A user with this email address already exists.")
        now = self.now()
        user = User(
            id=new_id("usr"),
            account_id=actor.account_id,
            email=address_value,
            name=name,
            role=role_value.value,
            status="active",
            password_hash=hash_password(password) if password is not None else None,
            password_changed_at=now if password is not None else None,
            failed_logins=0,
            created_at=now,
            updated_at=now,
        )
        self.repo.add(user)
        self.session.flush()
        self.event(
            user,
            "user.create",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
            detail={"email": user.email, "role": user.role, "password_set": password is not None},
        )
        if password is not None:
            return CreatedUser(user, None, None)
        token, expires_at = self._issue_link(user, "set_password")
        return CreatedUser(user, token, expires_at)

    def provision(
        self,
        account_id: str,
        *,
        email: str,
        name: str,
        role: str,
        actor_id: str,
        via: str,
        address: str | None,
    ) -> User | None:
        """A user made by single sign-on (just-in-time): no password and no set-password
        link (the IdP signs them in). None when the address is taken, also by a concurrent
        sign-in that got there first."""
        address_value = checked_email(email)
        role_value = checked_role(role)
        now = self.now()
        user = User(
            id=new_id("usr"),
            account_id=account_id,
            email=address_value,
            name=name.strip()[:200],
            role=role_value.value,
            status="active",
            password_hash=None,
            failed_logins=0,
            created_at=now,
            updated_at=now,
        )
        if not self.repo.add_once(user):
            return None
        self.session.flush()
        self.event(
            user,
            "user.create",
            actor_id=actor_id,
            address=address,
            detail={"via": via, "role": user.role},
        )
        return user

    def set_role_by(
        self, user: User, role: str, *, actor_id: str, via: str, address: str | None
    ) -> bool:
        """Change a user's role on an identity provider's word (group mapping). Never an
        owner's role, never to owner. True when it changed."""
        new_role = checked_role(role)
        if user.role == Role.OWNER.value or new_role is Role.OWNER or user.role == new_role.value:
            return False
        old = user.role
        user.role = new_role.value
        user.updated_at = self.now()
        # Tokens already issued to the user are narrowed at once (bearer listens).
        record_change(self.session, CHANGE_KIND_USER, user.id)
        self.event(
            user,
            "user.update",
            actor_id=actor_id,
            address=address,
            detail={"via": via, "role": {"from": old, "to": new_role.value}},
        )
        self.session.flush()
        return True

    def _check_password(self, password: str, email: str) -> None:
        problem = password_problem(password, email=email)
        if problem:
            raise ValidationFailed(problem, field="password")

    # -- one-time links -----------------------------------------------------------------------

    def _issue_link(self, user: User, purpose: str) -> tuple[str, datetime]:
        """A new link; any earlier unused one of the user's stops working."""
        now = self.now()
        for old in self.repo.unused_tokens(user.id, LINK_PURPOSES):
            old.used_at = now
        token = generate_token()
        expires_at = now + LINK_TTL
        self.repo.add(
            UserToken(
                id=new_id("utk"),
                user_id=user.id,
                purpose=purpose,
                token_hash=self.hasher.digest(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        self.session.flush()
        return token, expires_at

    def password_link(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> tuple[User, str, datetime]:
        """A reset-password link for the account's user (24 h, single use)."""
        del address  # the event is written when the link is used
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        purpose = "reset_password" if user.password_hash else "set_password"
        token, expires_at = self._issue_link(user, purpose)
        return user, token, expires_at

    def password_link_for_email(self, email: str) -> tuple[User, str, datetime] | None:
        """A reset link for the active user of `email` ("forgot your password"), or None
        when there is none: the caller answers the same either way (no enumeration)."""
        if len(email) > 320:
            return None
        user = self.repo.by_email(normalise_email(email))
        if user is None or not self.is_active(user):
            return None
        purpose = "reset_password" if user.password_hash else "set_password"
        token, expires_at = self._issue_link(user, purpose)
        return user, token, expires_at

    def link_user(self, token: str) -> User | None:
        """The active user a valid (unused, unexpired) link is for."""
        row = self._link(token)
        if row is None:
            return None
        user = self.repo.get(row.user_id)
        return user if user is not None and self.is_active(user) else None

    def _link(self, token: str) -> UserToken | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        row = self.repo.token_by_hash(self.hasher.digest(token))
        if row is None or row.purpose not in LINK_PURPOSES or row.used_at is not None:
            return None
        return row if as_utc(row.expires_at) > self.now() else None

    def set_password_with_link(self, token: str, password: str, *, address: str | None) -> User:
        """Use a link: set the password, end every session of the user, burn the link."""
        row = self._link(token)
        user = self.repo.get(row.user_id) if row is not None else None
        if row is None or user is None or not self.is_active(user):
            raise NotFound("This link is invalid, used or expired.")
        self._check_password(password, user.email)
        now = self.now()
        if not self.repo.spend_token(row.id, now):  # another request used it a moment ago
            raise NotFound("This link is invalid, used or expired.")
        user.password_hash = hash_password(password)
        user.password_changed_at = now
        user.failed_logins = 0
        user.locked_until = None
        user.updated_at = now
        if self.repo.revoke_sessions(user.id, now):
            record_change(self.session, CHANGE_KIND_USER, user.id)
        self.event(
            user,
            "user.password_set",
            actor_id=user.id,
            address=address,
            detail={"via": row.purpose},
        )
        self.session.flush()
        return user

    def change_password(
        self,
        user: User,
        *,
        current: str,
        new: str,
        keep_session_id: str,
        address: str | None,
    ) -> int:
        """The signed-in user changes their own password: the current one is required, the
        new one must pass the strength rules, and every other session of theirs ends (the
        one asking stays). How many sessions ended."""
        if user.password_hash is None:
            raise ValidationFailed(
                "current_password: you have no password here (you sign in with single "
                "sign-on or a set-password link). Ask an admin for a set-password link.",
                field="current_password",
            )
        if not verify_password(user.password_hash, current):
            raise WrongPassword(
                "current_password: this is not your current password.", field="current_password"
            )
        if new == current:
            raise ValidationFailed(
                "password: the new password must differ from the current one.", field="password"
            )
        self._check_password(new, user.email)
        now = self.now()
        user.password_hash = hash_password(new)
        user.password_changed_at = now
        user.updated_at = now
        ended = self.repo.revoke_sessions(user.id, now, keep=keep_session_id)
        if ended:
            record_change(self.session, CHANGE_KIND_USER, user.id)
        self.event(
            user,
            "user.password_set",
            actor_id=user.id,
            address=address,
            detail={"via": "change", "sessions_ended": ended},
        )
        self.session.flush()
        return ended

    def locked_for(self, user: User) -> int:
        """Seconds `user` is still locked out of checks of their password (0: not locked)."""
        now = self.now()
        if user.locked_until is None or as_utc(user.locked_until) <= now:
            return 0
        return max(1, math.ceil((as_utc(user.locked_until) - now).total_seconds()))

    def failed_proof(self, user: User, address: str | None) -> int:
        """A signed-in user gave a wrong password (or code) again: counted like a failed
        sign-in, so a stolen session cannot guess the password past the lock-out. Seconds
        of the lock it started (0: none)."""
        return self._failed(user, "wrong_proof", address).retry_after or 0

    def proves_identity(self, user: User, proof: str) -> bool:
        """`proof` is the user's password, a valid (unused) authenticator code or an unused
        recovery code: what a signed-in user gives again before a sensitive change (turning
        two-factor off). A code is spent."""
        proof = proof.strip()
        if not proof or len(proof) > 1024:
            return False
        if user.totp_enabled_at is not None and self.second_factor(user, proof) is not None:
            return True
        return verify_password(user.password_hash, proof)

    # -- signing in ---------------------------------------------------------------------------

    def login(
        self,
        email: str,
        password: str,
        *,
        totp_code: str | None,
        address: str | None,
        sso_required: Callable[[User], bool] | None = None,
    ) -> LoginResult:
        """Check a sign-in. Never raises for a refusal: the caller commits the failure count
        and the audit event. `totp_code` may also be a recovery code. `sso_required` (the
        SAML part's rule) refuses a user whose account signs in with single sign-on."""
        now = self.now()
        user = self.repo.by_email(normalise_email(email)) if len(email) <= 320 else None
        if user is None:
            verify_password(None, password)  # as slow as a wrong password
            return LoginResult(None, "invalid_credentials")
        if user.locked_until is not None and as_utc(user.locked_until) > now:
            verify_password(None, password)
            wait = math.ceil((as_utc(user.locked_until) - now).total_seconds())
            return LoginResult(None, "locked", max(1, wait))
        if not verify_password(user.password_hash, password):
            return self._failed(user, "invalid_credentials", address)
        if not self.is_active(user):
            self.event(
                user,
                "user.login_failed",
                actor_id=user.id,
                address=address,
                detail={"reason": "disabled"},
            )
            return LoginResult(None, "disabled")
        # After the password check: a stranger guessing addresses learns nothing of which
        # are SSO-bound. Before the second factor: no code is asked for nor spent.
        if sso_required is not None and sso_required(user):
            self.event(
                user,
                "user.login_failed",
                actor_id=user.id,
                address=address,
                detail={"reason": "sso_required"},
            )
            return LoginResult(None, "sso_required")
        method: str | None = "password"
        if user.totp_enabled_at is not None:
            if not totp_code or not totp_code.strip():
                return LoginResult(None, "totp_required")
            method = self.second_factor(user, totp_code.strip())
            if method is None:
                return self._failed(user, "totp_invalid", address)
        assert user.password_hash is not None  # noqa: S101 - verified above
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        self.event(
            user,
            "user.login",
            actor_id=user.id,
            address=address,
            detail={"mfa": user.totp_enabled_at is not None, "factor": method},
        )
        self.session.flush()
        return LoginResult(user, None)

    def _failed(self, user: User, reason: str, address: str | None) -> LoginResult:
        self.repo.count_failure(user)
        self.event(
            user,
            "user.login_failed",
            actor_id=user.id,
            address=address,
            detail={"reason": reason, "consecutive": user.failed_logins},
        )
        lock = lock_seconds(user.failed_logins)
        if lock:
            user.locked_until = self.now() + timedelta(seconds=lock)
            self.event(
                user,
                "user.locked",
                actor_id=user.id,
                address=address,
                detail={"seconds": lock, "consecutive": user.failed_logins},
            )
            self.session.flush()
            return LoginResult(None, "locked", lock)
        self.session.flush()
        return LoginResult(None, reason)

    # -- sessions -----------------------------------------------------------------------------

    def start_session(
        self,
        user: User,
        *,
        method: str = "password",
        mfa: bool,
        address: str | None,
        user_agent: str | None,
        sso_name_id: str | None = None,
        sso_session_index: str | None = None,
    ) -> tuple[UserSession, str]:
        """A new session (a new token at every sign-in: no session fixation). The token is
        for the cookie and is returned only here. A SAML session keeps the IdP's NameID and
        SessionIndex, so the IdP's single logout finds it."""
        now = self.now()
        token = generate_token()
        row = UserSession(
            id=new_id("ses"),
            user_id=user.id,
            account_id=user.account_id,
            token_hash=self.hasher.digest(token),
            method=method,
            mfa=mfa,
            address=(address or None) and address[:64],
            user_agent=(user_agent or None) and user_agent[:200],
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.session_max_age,
            sso_name_id=sso_name_id,
            sso_session_index=sso_session_index,
        )
        self.repo.add(row)
        self.session.flush()
        return row, token

    def session_for(self, token: str) -> tuple[UserSession, User] | None:
        """The live session of a cookie token and its active user, or None."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        row = self.repo.session_by_hash(self.hasher.digest(token))
        if row is None or row.revoked_at is not None:
            return None
        now = self.now()
        last_seen = as_utc(row.last_seen_at)
        if as_utc(row.expires_at) <= now or last_seen + self.session_idle <= now:
            return None
        user = self.repo.get(row.user_id)
        if user is None or not self.is_active(user):
            return None
        if now - last_seen >= LAST_SEEN_EVERY:
            row.last_seen_at = now
            self.session.flush()
        return row, user

    def logout(self, session_id: str, *, address: str | None) -> None:
        """End a session (sign-out); ending an ended one changes nothing."""
        row = self.repo.session_by_id(session_id)
        if row is None:
            return
        if row.revoked_at is None:
            row.revoked_at = self.now()
        user = self.repo.get(row.user_id)
        if user is not None:
            self.event(
                user,
                "user.logout",
                actor_id=user.id,
                address=address,
                detail={"session_id": row.id},
            )
        self.session.flush()
